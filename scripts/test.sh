#!/usr/bin/env bash
# The whole test suite: installs the payload validators and SMTP sink it needs
# (idempotent), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
sh scripts/test-deps.sh
cargo test --all-targets
