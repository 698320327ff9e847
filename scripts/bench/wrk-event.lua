-- wrk script for scripts/bench.sh (docs/BENCH.md): posts the load generator's
-- 11200 Debugger form event (1,988 bytes) with a new Sid on every request and,
-- with DISTINCT = 1, a new resource_sid too (a new group per event).
--
--   wrk -t2 -c32 -d8s --latency -s scripts/bench/wrk-event.lua \
--       http://127.0.0.1:PORT/twilio/debugger -- RUN DISTINCT BODY_FILE
--
-- BODY_FILE is `loadgen template` output: the form body with 32-character
-- placeholders (SSSS... after NO, RRRR... after CA) where the hex digits go.
-- RUN (a number) keeps Sids unique across wrk runs against one store. The
-- X-Twilio-Signature header is a dummy: both sides run with verification off.

local SID = string.rep("S", 32)
local RES = string.rep("R", 32)
local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  run = tonumber(args[1]) or 0
  distinct = args[2] == "1"
  local f = assert(io.open(args[3], "rb"), "cannot read the body template " .. tostring(args[3]))
  local body = f:read("*a")
  f:close()
  -- Split the body at its placeholders: parts[1] slot[1] parts[2] slot[2] ...
  parts, slots = {}, {}
  local pos = 1
  while true do
    local s = body:find(SID, pos, true)
    local r = body:find(RES, pos, true)
    local at, kind = s, "sid"
    if r and (not s or r < s) then at, kind = r, "res" end
    if not at then break end
    parts[#parts + 1] = body:sub(pos, at - 1)
    slots[#slots + 1] = kind
    pos = at + 32
  end
  parts[#parts + 1] = body:sub(pos)
  assert(#slots >= 2, "the body template has no Sid/resource placeholders")
  fixed = string.format("%032x", 7)
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
  wrk.headers["X-Twilio-Signature"] = "unchecked"
end

function request()
  n = n + 1
  local id = string.format("%08x%08x%08x%08x", run, tid or 0, 0, n)
  local res = distinct and id or fixed
  local out = { parts[1] }
  for i, kind in ipairs(slots) do
    out[#out + 1] = (kind == "sid") and id or res
    out[#out + 1] = parts[i + 1]
  end
  return wrk.format(nil, nil, nil, table.concat(out))
end
