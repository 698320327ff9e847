#!/usr/bin/env bash
# Renders the alert previews in docs/ALERTS.md from what the channels really
# receive: the `previews_for_the_docs` test sends one event through the app to
# Slack, Teams (wiremock) and email (the test SMTP sink) and saves the payloads;
# docs/preview/build-pages.js renders the Teams card with Microsoft's Adaptive
# Cards SDK and frames the email's HTML part; headless Chromium screenshots both.
#
# Needs: cargo, python3, node, npm adaptivecards (scripts/test-deps.sh) and
# Chromium (Debian: apt-get install chromium fonts-noto-color-emoji).
# Writes docs/images/teams-card.png, docs/images/email.png and the sample Slack
# payload between the slack-payload markers in docs/ALERTS.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CHROMIUM="${CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}"
if [ -z "$CHROMIUM" ]; then
    echo "render-previews: Chromium not found (Debian: apt-get install chromium; or set CHROMIUM=...)" >&2
    exit 1
fi
AC_JS=tests/validators/node_modules/adaptivecards/dist/adaptivecards.js
if [ ! -f "$AC_JS" ]; then
    echo "render-previews: $AC_JS missing; run scripts/test-deps.sh" >&2
    exit 1
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "render-previews: sending a sample event through the app"
TWILERT_PREVIEW_DIR="$WORK/payloads" cargo test --quiet --test api \
    email::previews_for_the_docs -- --ignored --exact >/dev/null
node docs/preview/build-pages.js "$WORK/payloads" "$WORK/pages" "$AC_JS"

chrome() {
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run \
        --user-data-dir="$(mktemp -d -p "$WORK")" --hide-scrollbars \
        --allow-file-access-from-files --virtual-time-budget=3000 "$@" 2>/dev/null
}

# Two passes: the page measures itself (data-height), then is shot at that size.
shoot() { # page.html width out.png
    local height
    height="$(chrome --window-size="$2,2000" --dump-dom "file://$1" |
        sed -n 's/.*data-height="\([0-9]*\)".*/\1/p' | head -n1)"
    if [ -z "$height" ]; then
        echo "render-previews: $1 did not render (no data-height)" >&2
        exit 1
    fi
    chrome --window-size="$2,$height" --screenshot="$3" "file://$1" >/dev/null
    echo "render-previews: wrote $3 (${2}x${height})"
}

mkdir -p docs/images
shoot "$WORK/pages/teams.html" 760 "$PWD/docs/images/teams-card.png"
shoot "$WORK/pages/email.html" 820 "$PWD/docs/images/email.png"
python3 - "$WORK/payloads/slack.json" docs/ALERTS.md <<'PY'
import re, sys
payload, doc = open(sys.argv[1], encoding="utf-8").read().strip(), sys.argv[2]
text = open(doc, encoding="utf-8").read()
block = "<!-- slack-payload:start -->\n```json\n" + payload + "\n```\n<!-- slack-payload:end -->"
new, n = re.subn(r"<!-- slack-payload:start -->.*?<!-- slack-payload:end -->", lambda _: block, text, flags=re.S)
if n != 1:
    sys.exit("render-previews: slack-payload markers not found in " + doc)
open(doc, "w", encoding="utf-8").write(new)
PY
echo "render-previews: updated the Slack payload in docs/ALERTS.md"
