#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) with libFuzzer (see docs/FUZZ.md).
#   scripts/fuzz.sh            # all targets, 60 s each
#   scripts/fuzz.sh 600 render # one target, 10 minutes
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP=1 enables them on stable.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
secs="${1:-60}"; shift || true
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(decode_form decode_json signature route_patterns render)
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t for ${secs}s"
    RUSTC_BOOTSTRAP=1 cargo fuzz run -O "$t" "corpus/$t" "seeds/$t" -- -max_total_time="$secs" -max_len=16384
done
echo "fuzz: all targets ran clean; save any crash input under fuzz/regressions/<target>/ (replayed by cargo test)"
