-- wrk script for scripts/bench/alertmanager.sh (docs/BENCH.md): posts one alert
-- per request to Alertmanager's v2 API, as a Prometheus would relay a Twilio
-- 11200 (its labels: alertname, error_code, resource_sid; its annotations: the
-- message). DISTINCT = 1 gives every request a new resource_sid (a new alert),
-- otherwise every request repeats the same alert.
--
--   wrk -t2 -c32 -d8s --latency -s scripts/bench/wrk-alertmanager.lua \
--       http://127.0.0.1:PORT/api/v2/alerts -- RUN DISTINCT

local threads = 0

function setup(thread)
  thread:set("tid", threads)
  threads = threads + 1
end

function init(args)
  run = tonumber(args[1]) or 0
  distinct = args[2] == "1"
  n = 0
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  n = n + 1
  local res = distinct and string.format("CA%08x%08x%016x", run, tid or 0, n) or "CA0000000000000000000000000000007"
  local body = '[{"labels":{"alertname":"TwilioError","error_code":"11200","level":"error","resource_sid":"'
    .. res .. '"},"annotations":{"summary":"HTTP retrieval failure","description":"An attempt to retrieve content from https://example.com/voice returned the HTTP status code 502"},'
    .. '"generatorURL":"https://console.twilio.com/us1/monitor/logs/debugger/errors"}]'
  return wrk.format(nil, nil, nil, body)
end
