#!/usr/bin/env sh
# Installs the third-party payload validators used by tests/render_validators.rs:
#   - Slack's own Block Kit models (PyPI slack-sdk) for tests/validators/slack_validate.py
#   - Microsoft's Adaptive Cards SDK (npm adaptivecards) for tests/validators/teams_validate.js
# Safe to run repeatedly; installs only what is missing.
set -eu
cd "$(dirname "$0")/.."

if ! command -v python3 >/dev/null 2>&1; then
    echo "test-deps: python3 is required (for the Slack validator)" >&2
    exit 1
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
    echo "test-deps: node and npm are required (for the Teams validator)" >&2
    exit 1
fi

if python3 -c "import slack_sdk" >/dev/null 2>&1; then
    echo "test-deps: slack-sdk already installed"
else
    echo "test-deps: installing slack-sdk (PyPI)"
    python3 -m pip install --quiet slack-sdk
fi

if python3 -c "import twilio.request_validator" >/dev/null 2>&1; then
    echo "test-deps: twilio (Python SDK, for its request signer) already installed"
else
    echo "test-deps: installing twilio (PyPI) for tests/validators/twilio_sign.py"
    python3 -m pip install --quiet twilio
fi

if [ -f tests/validators/node_modules/adaptivecards/dist/adaptivecards.js ]; then
    echo "test-deps: adaptivecards already installed"
else
    echo "test-deps: installing adaptivecards (npm) into tests/validators/node_modules"
    npm install --prefix tests/validators --no-audit --no-fund --silent adaptivecards
fi

# Twilio's Node SDK (npm twilio, pinned in tests/validators/package-lock.json): its
# webhook validator implements shared-key signing (X-Twilio-Webhooks-Signature-Settings,
# HMAC_SHA256); tests/validators/twilio_node_sign.js signs with it for tests/api/event_streams.rs.
if [ -f tests/validators/node_modules/twilio/lib/webhooks/webhooks.js ]; then
    echo "test-deps: twilio (npm, for shared-key signing) already installed"
else
    echo "test-deps: installing twilio (npm) into tests/validators/node_modules"
    npm install --prefix tests/validators --no-audit --no-fund --silent
fi
echo "test-deps: ok"
