#!/usr/bin/env sh
# Installs the third-party checkers the tests run, without touching the system
# Python or the tracked files (safe to run repeatedly; installs only what is missing):
#   - a virtualenv in target/test-venv with Slack's Block Kit models and request
#     signature verifier (PyPI slack-sdk, pinned; tests/validators/slack_validate.py,
#     slack_sign.py) and Twilio's request signer (PyPI twilio,
#     tests/validators/twilio_sign.py); the tests find it through TWILERT_TEST_PYTHON
#     (scripts/test.sh sets it) or at that path;
#   - Microsoft's Adaptive Cards SDK (npm adaptivecards, tests/validators/teams_validate.js)
#     into tests/validators/node_modules, exactly as tests/validators/package-lock.json pins it;
#   - headless Chromium and its chromedriver (Debian's chromium, chromium-driver) for the
#     console's browser tests (tests/api/console.rs), with apt-get when run as root.
# Anything it cannot install is an error (exit 1), never a skipped test.
# PostgreSQL (a server that must outlive this script) is scripts/find-postgres.sh's
# job, which scripts/test.sh sources after this one.
set -eu
cd "$(dirname "$0")/.."

venv=target/test-venv
if ! command -v python3 >/dev/null 2>&1; then
    echo "test-deps: python3 is required (for the Slack validator and Twilio's signer)" >&2
    exit 1
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "test-deps: node and npm are required (for the Teams validator)" >&2
    exit 1
fi

if [ ! -x "$venv/bin/python3" ]; then
    echo "test-deps: creating the Python virtualenv $venv"
    python3 -m venv "$venv" || {
        echo "test-deps: python3 -m venv failed; install the venv module (Debian: apt-get install python3-venv)" >&2
        exit 1
    }
fi
# slack-sdk is pinned: its Block Kit models and its request-signature verifier
# (tests/validators/slack_sign.py) are what the tests hold twilert to.
slack_sdk=3.48.0
if "$venv/bin/python3" -c "import slack_sdk.version, slack_sdk.models.blocks, slack_sdk.signature, twilio.request_validator; assert slack_sdk.version.__version__ == '$slack_sdk'" >/dev/null 2>&1; then
    echo "test-deps: slack-sdk $slack_sdk and twilio already in $venv"
else
    echo "test-deps: installing slack-sdk $slack_sdk and twilio (PyPI) into $venv"
    "$venv/bin/python3" -m pip install --quiet --disable-pip-version-check "slack-sdk==$slack_sdk" twilio
fi

if [ tests/validators/node_modules/.package-lock.json -nt tests/validators/package-lock.json ]; then
    echo "test-deps: tests/validators/node_modules is up to date"
else
    echo "test-deps: npm ci in tests/validators"
    npm ci --prefix tests/validators --no-audit --no-fund --silent
fi

# Twilio's Node SDK (npm `twilio`, in the lockfile above, so `npm ci` installs it):
# its webhook validator implements shared-key signing; tests/validators/twilio_node_sign.js
# signs with it for tests/api/event_streams.rs.

# Headless Chromium and its driver (Debian packages) for the console's browser tests.
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "test-deps: chromium and chromedriver present"
elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "test-deps: installing chromium and chromium-driver (apt-get)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
else
    echo "test-deps: /usr/bin/chromium and /usr/bin/chromedriver are needed for the console's browser tests; as root: apt-get install chromium chromium-driver" >&2
    if [ "${CI:-}" = true ]; then
        exit 1
    fi
fi
echo "test-deps: ok"
