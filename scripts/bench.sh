#!/usr/bin/env bash
# The performance benchmark (docs/BENCH.md): twilert's release binary against two
# reference handlers, in one run, with the ratios and a verdict against the targets.
#   scripts/bench.sh                  # the ingest cases with wrk and the loadgen (3 rounds of 8 s after 2 s),
#                                     # then 40,000 events, storms of 100,000, 3 repetitions, the backlog phase
#   scripts/bench.sh --quick          # the same phases, shorter (1 round of 3 s, 10,000 events, storms of 20,000)
#   scripts/bench.sh --cases-only     # only the wrk/loadgen ingest cases
#   scripts/bench.sh --no-cases --events 100000 --repeat 5 --connections 64
#   scripts/bench.sh --postgres [--quick]  # only PostgreSQL: two replicas on one database vs the
#                                     # PostgreSQL durable floor (TWILERT_TEST_POSTGRES_URL, else the
#                                     # local default, else a throwaway cluster: scripts/find-postgres.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
# wrk (the independent load generator; Debian package `wrk`).
if ! command -v wrk >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench: installing wrk (apt-get install wrk)" >&2
        apt-get install -y wrk >/dev/null 2>&1 \
            || { apt-get update >/dev/null && apt-get install -y wrk >/dev/null; }
    else
        echo "bench: wrk is not installed, so only the Rust loadgen runs;" \
            "install it with: sudo apt-get install wrk" >&2
    fi
fi
# Two builds on purpose: built together with an example, Cargo unifies the
# dev-dependencies' features into the binary, which is then not the one shipped
# (bigger, and measurably slower).
cargo build --release --bin twilert
cargo build --release --example loadgen
bin="${CARGO_TARGET_DIR:-target}/release"
for a in "$@"; do
    if [ "$a" = --postgres ]; then
        # Exports TWILERT_TEST_POSTGRES_URL (the loadgen reads it); a cluster it
        # starts (durable settings) is stopped by an EXIT trap, hence no exec below.
        . scripts/find-postgres.sh bench
    fi
done
"$bin/examples/loadgen" run --bin "$bin/twilert" "$@"
