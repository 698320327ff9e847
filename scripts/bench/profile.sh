#!/usr/bin/env bash
# Instruction-count profile of twilert's ingest (docs/BENCH.md, "Profile"):
# callgrind on the release build (debug line tables), counters zeroed once
# /healthz answers, so start-up is left out; the load is the loadgen's, with
# signature verification off.
#   scripts/bench/profile.sh a [EVENTS]   # one resource, a muted catch-all route
#   scripts/bench/profile.sh b [EVENTS]   # distinct resources, routed to a mock Slack
#   scripts/bench/profile.sh floor-a|floor-b [EVENTS]   # the durable floor, same loads
#   TOOL=strace scripts/bench/profile.sh b             # syscalls per event (fsync: commits)
#   TWILERT=/tmp/old/twilert scripts/bench/profile.sh b  # another twilert binary (before/after)
#   TOOL=threads scripts/bench/profile.sh b [SECONDS]    # at full speed under wrk (real batching,
#                                                        # which callgrind's one-thread-at-a-time
#                                                        # run does not have): CPU µs per event per thread,
#                                                        # and where the serial thread's time goes
# Prints instructions per event (whole process and per thread) and the top
# inclusive costs; the callgrind files stay in the printed temp directory (not
# for committing).
set -euo pipefail
cd "$(dirname "$0")/../.."
case_="${1:?usage: scripts/bench/profile.sh a|b [EVENTS]}"
events="${2:-4000}"
bin="${CARGO_TARGET_DIR:-target}/release"
command -v valgrind >/dev/null || { echo "profile: needs valgrind (apt-get install valgrind)" >&2; exit 2; }
twilert="${TWILERT:-$bin/twilert}"
[ -x "$twilert" ] && [ -x "$bin/examples/loadgen" ] \
    || { echo "profile: build first: scripts/bench.sh builds both ($bin/twilert, $bin/examples/loadgen)" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir="$(mktemp -d /tmp/twilert-profile.XXXXXX)"
port="$(free_port)"; admin="$(free_port)"; slack="$(free_port)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
tool="${TOOL:-callgrind}"
case "$case_" in
    a | floor-a) routes=$'[[routes]]\nname = "all"\nmute = true'; resources=1 ;;
    b | floor-b) routes=""; resources=0 ;;
    *) echo "profile: case a, b, floor-a or floor-b, not $case_" >&2; exit 2 ;;
esac
case "$tool" in
    callgrind) wrap=(valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$dir/callgrind.out") ;;
    strace) wrap=(strace -f -c -o "$dir/strace.txt") ;;
    threads) wrap=() ;;
    *) echo "profile: TOOL=callgrind, strace or threads, not $tool" >&2; exit 2 ;;
esac
cat >"$dir/config.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
[admin]
listen = "127.0.0.1:$admin"
[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
verify_signature = false
[store]
path = "$dir/twilert.db"
[defaults]
channels = ["slack"]
window = "5m"
[channels.slack]
kind = "slack"
url = "http://127.0.0.1:$slack/services/T/B/X"
$routes
EOF
"$bin/examples/loadgen" slack --port "$slack" >/dev/null & pids+=($!)
if [[ "$case_" == floor-* ]]; then
    target=("$bin/examples/loadgen" --floor durable --no-verify --port "$port" --db "$dir/floor.db")
else
    target=("$twilert" --config "$dir/config.toml" serve)
fi
RUST_LOG=warn "${wrap[@]}" "${target[@]}" 2>"$dir/tool.log" & pids+=($!)
tw=$!
for _ in $(seq 600); do
    curl -fs "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.1
done
[ "$tool" = callgrind ] && callgrind_control -z "$tw" >/dev/null
if [ "$tool" = threads ]; then
    # Per-thread CPU (utime + stime, clock ticks) around a wrk run at full speed.
    command -v wrk >/dev/null || { echo "profile: TOOL=threads needs wrk (scripts/bench.sh installs it)" >&2; exit 2; }
    "$bin/examples/loadgen" template >"$dir/body.txt"
    cpu() { for t in /proc/"$tw"/task/*; do echo "$(basename "$t") $(tr -d ' ' <"$t/comm") $(awk '{print $14 + $15}' "$t/stat")"; done; }
    distinct=$([ "$resources" = 1 ] && echo 0 || echo 1)
    cpu >"$dir/before"
    written() { awk '/^write_bytes/ {print $2}' /proc/"$tw"/io; }
    w0="$(written)"
    # The serial thread (the engine's, or the floor's writer): its state sampled
    # every 2 ms while wrk runs (R: running or waiting for a core, D: waiting on
    # the disk, S: waiting for work), and its schedstat (on a core / waiting for one).
    serial="$( (grep -lE 'twilert-dispatc|floor-writer' /proc/"$tw"/task/*/comm || true) | head -1 | cut -d/ -f5)"
    sampler=
    if [ -n "$serial" ]; then
        python3 - "$tw" "$serial" "$((events - 1))" >"$dir/states.txt" <<'PY' &
import sys, time
pid, tid, secs = sys.argv[1], sys.argv[2], float(sys.argv[3])
base = f"/proc/{pid}/task/{tid}"
def sched():
    on, wait, _ = open(f"{base}/schedstat").read().split()
    return int(on), int(wait), time.monotonic()
time.sleep(0.5)
counts, s0, end = {}, sched(), time.monotonic() + secs
while time.monotonic() < end:
    stat = open(f"{base}/stat").read()
    state = stat[stat.rindex(")") + 2]
    counts[state] = counts.get(state, 0) + 1
    time.sleep(0.002)
s1 = sched()
wall, n = s1[2] - s0[2], sum(counts.values())
states = ", ".join(f"{k} {100 * v / n:.0f} %" for k, v in sorted(counts.items()))
print(f"  serial thread {tid}: on a core {100 * (s1[0] - s0[0]) / 1e9 / wall:.0f} %, waiting for one "
      f"{100 * (s1[1] - s0[1]) / 1e9 / wall:.0f} %; sampled states {states}")
PY
        sampler=$!
    else
        echo "  (no engine or floor writer thread found: an older binary? its states are not sampled)" >"$dir/states.txt"
    fi
    wrk -t2 -c32 -d"${events}s" -s scripts/bench/wrk-event.lua "http://127.0.0.1:$port/twilio/debugger" -- 1 "$distinct" "$dir/body.txt" >"$dir/wrk.txt"
    cpu >"$dir/after"
    w1="$(written)"
    [ -z "$sampler" ] || wait "$sampler" || true
    n="$(awk '/requests in/ {print $1}' "$dir/wrk.txt")"
    echo "case $case_: $n requests in ${events} s ($(awk '/Requests\/sec/ {print $2}' "$dir/wrk.txt") /s); CPU µs per event by thread:"
    hz="$(getconf CLK_TCK)"
    join "$dir/before" "$dir/after" | awk -v n="$n" -v hz="$hz" '{d = $5 - $3; if (d > 0) {printf "  %-7s %-18s %6.1f\n", $1, $2, d * 1e6 / hz / n; t += d}} END {printf "  all                        %6.1f\n", t * 1e6 / hz / n}'
    echo "  bytes written to disk per event: $(( (w1 - w0) / n ))"
    cat "$dir/states.txt"
    exit 0
fi
"$bin/examples/loadgen" load --port "$port" --events "$events" --resources "$resources" --connections 32
sleep 2 # let the engine and delivery finish what the load queued
if [ "$tool" = strace ]; then
    # Stop the traced process itself; strace then exits with its summary.
    kill "$(pgrep -P "$tw" | head -1)"; wait "$tw" 2>/dev/null || true
    echo "case $case_: $events events (counts include start-up and shutdown):"
    awk -v n="$events" 'NR<=2 || /^-/ {print; next} {printf "%s   %.2f per event\n", $0, $4 / n}' "$dir/strace.txt"
    exit 0
fi
callgrind_control -d "$tw" >/dev/null
sum=0
for out in "$dir"/callgrind.out.*-*; do
    ir="$(awk '/^summary:/ {print $2; exit}' "$out")"
    [ "${ir:-0}" -gt 100000 ] || continue # idle threads
    sum=$((sum + ir))
    role="$(grep -m1 -oE 'dispatch::Engine::run|deliver::worker::[A-Za-z_]+|floors::writer|h1::dispatcher::Dispatcher|actix_server::accept|tokio::runtime::blocking::pool' "$out" || true)"
    printf '  thread %-5s %14s instructions, %7d per event  (%s)\n' "${out##*-}" "$ir" $((ir / events)) "${role:-?}"
done
echo "case $case_: $events events, $sum instructions after start-up: $((sum / events)) per event"
# Top inclusive costs of the busiest threads, runtime frames left out.
for out in $(for f in "$dir"/callgrind.out.*-*; do echo "$(awk '/^summary:/ {print $2; exit}' "$f") $f"; done | sort -rn | head -3 | cut -d' ' -f2); do
    echo; echo "thread ${out##*-}, inclusive:"
    callgrind_annotate --inclusive=yes "$out" 2>/dev/null | sed -n '/file:function/,$p' \
        | grep -vE 'tokio-1|actix-server|actix-service|actix-rt|/library/std/|/library/core/src/(ops|future)|boxed.rs|libc.so|clone.S|pthread_create' \
        | sed -n '3,26p' | cut -c1-220
done
echo "callgrind files: $dir/callgrind.out.*"
