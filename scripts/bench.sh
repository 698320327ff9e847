#!/usr/bin/env bash
# The performance benchmark (docs/BENCH.md): twilert's release binary against two
# reference handlers, in one run, with the ratios and a verdict against the targets.
#   scripts/bench.sh                                # 40,000 events, storms of 100,000, 3 repetitions
#   scripts/bench.sh --events 100000 --repeat 5 --connections 64
#   scripts/bench.sh --storm 0 --rate-seconds 2     # quick: no storms
set -euo pipefail
cd "$(dirname "$0")/.."
# Two builds on purpose: built together with an example, Cargo unifies the
# dev-dependencies' features into the binary, which is then not the one shipped
# (bigger, and measurably slower).
cargo build --release --bin twilert
cargo build --release --example loadgen
exec target/release/examples/loadgen run --bin target/release/twilert "$@"
