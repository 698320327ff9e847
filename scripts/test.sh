#!/usr/bin/env bash
# The whole test suite: installs the payload validators and checkers it needs
# (scripts/test-deps.sh: idempotent; Python packages in target/test-venv, npm ones
# in tests/validators/node_modules, and — as root, when missing — Debian's chromium
# and chromium-driver for the console's browser tests), then runs every test.
# Leaves `git status` clean.
set -euo pipefail
cd "$(dirname "$0")/.."
sh scripts/test-deps.sh
# The tests run Python through this interpreter (the virtualenv test-deps.sh made).
export TWILERT_TEST_PYTHON="$PWD/target/test-venv/bin/python3"
cargo test --all-targets
