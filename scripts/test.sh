#!/usr/bin/env bash
# The whole test suite: installs the payload validators and checkers it needs
# (scripts/test-deps.sh: idempotent; Python packages in target/test-venv, npm ones
# in tests/validators/node_modules, and — as root, when missing — Debian's chromium
# and chromium-driver for the console's browser tests), finds a PostgreSQL for the
# PostgreSQL tests (scripts/find-postgres.sh: TWILERT_TEST_POSTGRES_URL, else
# postgres://postgres@127.0.0.1:5432/test, else a throwaway cluster from the
# machine's PostgreSQL binaries, installed first as root on Debian when missing;
# stopped and removed when this script exits), then runs every test.
# Leaves `git status` clean.
set -euo pipefail
cd "$(dirname "$0")/.."
sh scripts/test-deps.sh
# Exports TWILERT_TEST_POSTGRES_URL (or, only outside CI with no PostgreSQL
# possible, TWILERT_TEST_POSTGRES=skip); a cluster it starts is stopped by an EXIT trap.
. scripts/find-postgres.sh tests
# The tests run Python through this interpreter (the virtualenv test-deps.sh made).
export TWILERT_TEST_PYTHON="$PWD/target/test-venv/bin/python3"
cargo test --all-targets
# The end-to-end modules again with every app's store on PostgreSQL (a database
# per test): ingest, grouping, durability, channels, resolution, living Slack
# alerts and their buttons, reloads, metrics, the console, the CLI and silences
# (the SQLite file's own failure modes in hardening:: are SQLite's).
if [ "${TWILERT_TEST_POSTGRES:-}" != "skip" ]; then
    TWILERT_TEST_BACKEND=postgres cargo test --test api -- \
        ingest:: grouping:: durability:: channels:: resolve:: threshold:: reload:: \
        metrics:: email:: event_streams:: slack_app:: slack_buttons:: console:: \
        cli:: silences:: hardening::open_groups
fi
