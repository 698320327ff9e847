#!/usr/bin/env bash
# The SPEC 11 benchmark: builds the release binary and the load generator, then
# measures twilert against two reference handlers in one run (see docs/BENCH.md).
#   scripts/bench.sh                      # defaults: 40,000 events, storms of 100,000
#   scripts/bench.sh --events 100000 --storm 100000 --concurrency 64
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin twilert --example loadgen
exec target/release/examples/loadgen run "$@"
