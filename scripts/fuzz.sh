#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) with libFuzzer (docs/FUZZ.md).
#   scripts/fuzz.sh                  # all targets, 60 s each
#   scripts/fuzz.sh 600 render       # one target, 10 minutes
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on stable.
# Every target runs even if one crashes; the exit code is 1 if any did.
set -uo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(decode_form decode_json decode_events signature route_patterns render)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
mkdir -p logs
failed=()
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t for ${secs}s (log: fuzz/logs/$t.log)"
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -max_len=16384 >"logs/$t.log" 2>&1; then
        failed+=("$t")
        grep -m1 -A2 "panicked at" "logs/$t.log" || tail -5 "logs/$t.log"
    fi
    grep -h "^Done [0-9]* runs" "logs/$t.log" || true
done
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: crashed: ${failed[*]}; inputs in fuzz/artifacts/<target>/ — fix, then copy each to fuzz/regressions/<target>/ (replayed by cargo test)"
    exit 1
fi
echo "fuzz: all targets ran clean"
