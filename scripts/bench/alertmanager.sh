#!/usr/bin/env bash
# Prometheus Alertmanager side by side with twilert (issue 18, docs/BENCH.md):
# the same wrk load shape against each, fresh processes, one after the other:
#   repeated: one alert repeated (twilert: one resource, a muted catch-all route)
#   distinct: a new alert per request (twilert: a new resource per event, routed
#             to a mock Slack; Alertmanager: group_by resource_sid, a webhook
#             receiver at the same mock)
# Alertmanager keeps alerts in memory (its snapshot is written every 15 min);
# twilert commits every event with fsync before its 200.
#   scripts/bench/alertmanager.sh [SECONDS]     # default 8 s after a 2 s warm-up
# Needs wrk and prometheus-alertmanager (Debian: apt-get install wrk prometheus-alertmanager).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs="${1:-8}"
bin="${CARGO_TARGET_DIR:-target}/release"
am="$(command -v prometheus-alertmanager || command -v alertmanager || true)"
[ -n "$am" ] || { echo "alertmanager.sh: needs prometheus-alertmanager (apt-get install prometheus-alertmanager)" >&2; exit 2; }
command -v wrk >/dev/null || { echo "alertmanager.sh: needs wrk (apt-get install wrk)" >&2; exit 2; }
[ -x "$bin/twilert" ] && [ -x "$bin/examples/loadgen" ] \
    || { echo "alertmanager.sh: build first: scripts/bench.sh builds both" >&2; exit 2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
dir="$(mktemp -d /tmp/twilert-am.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
slack="$(free_port)"
"$bin/examples/loadgen" slack --port "$slack" >/dev/null & pids+=($!)
"$bin/examples/loadgen" template >"$dir/body.txt" 2>/dev/null
wait_up() { for _ in $(seq 300); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "alertmanager.sh: $1 did not answer" >&2; exit 1; }
# wrk against URL with SCRIPT ARGS...; prints "rate p99" and the target's peak RSS.
measure() {
    local pid="$1" url="$2" script="$3"; shift 3
    wrk -t2 -c32 -d2s -s "$script" "$url" -- 1 "$@" >/dev/null
    wrk -t2 -c32 -d"${secs}s" --latency -s "$script" "$url" -- 2 "$@" >"$dir/wrk.txt"
    local rate p99 hwm
    rate="$(awk '/Requests\/sec/ {printf "%d", $2}' "$dir/wrk.txt")"
    p99="$(awk '$1 == "99%" {print $2}' "$dir/wrk.txt")"
    hwm="$(awk '/VmHWM/ {printf "%.1f MB", $2 / 1024}' "/proc/$pid/status")"
    errors="$(awk '/Non-2xx/ {print $4}' "$dir/wrk.txt")"
    printf '%8s ev/s  p99 %-9s peak RSS %-9s non-2xx %s\n' "$rate" "$p99" "$hwm" "${errors:-0}"
}
run_alertmanager() {
    local distinct="$1" port
    port="$(free_port)"
    rm -rf "$dir/am"; mkdir -p "$dir/am"
    cat >"$dir/am/alertmanager.yml" <<YML
route:
  receiver: slack
  group_by: [alertname, error_code, resource_sid]
receivers:
  - name: slack
    webhook_configs:
      - url: http://127.0.0.1:$slack/services/T/B/X
YML
    "$am" --config.file="$dir/am/alertmanager.yml" --storage.path="$dir/am" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= >"$dir/am/log" 2>&1 &
    local pid=$!; pids+=($pid)
    wait_up "http://127.0.0.1:$port/-/ready"
    printf '  %-9s alertmanager  ' "$2"
    measure "$pid" "http://127.0.0.1:$port/api/v2/alerts" scripts/bench/wrk-alertmanager.lua "$distinct"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
run_twilert() {
    local distinct="$1" port admin routes
    port="$(free_port)"; admin="$(free_port)"
    rm -rf "$dir/tw"; mkdir -p "$dir/tw"
    routes=""
    [ "$distinct" = 0 ] && routes=$'[[routes]]\nname = "all"\nmute = true'
    cat >"$dir/tw/config.toml" <<TOML
[server]
listen = "127.0.0.1:$port"
[admin]
listen = "127.0.0.1:$admin"
[twilio]
public_url = "https://alerts.example.com/twilio/debugger"
verify_signature = false
[store]
path = "$dir/tw/twilert.db"
[defaults]
channels = ["slack"]
window = "5m"
[channels.slack]
kind = "slack"
url = "http://127.0.0.1:$slack/services/T/B/X"
$routes
TOML
    RUST_LOG=warn "$bin/twilert" --config "$dir/tw/config.toml" serve 2>"$dir/tw/log" &
    local pid=$!; pids+=($pid)
    wait_up "http://127.0.0.1:$port/healthz"
    printf '  %-9s twilert       ' "$2"
    measure "$pid" "http://127.0.0.1:$port/twilio/debugger" scripts/bench/wrk-event.lua "$distinct" "$dir/body.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
echo "wrk -t2 -c32, ${secs} s after a 2 s warm-up; load average $(cut -d' ' -f1-3 /proc/loadavg); $("$am" --version 2>&1 | head -1)"
run_alertmanager 0 repeated
run_twilert 0 repeated
run_alertmanager 1 distinct
run_twilert 1 distinct
