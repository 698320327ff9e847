#!/usr/bin/env bash
# Renders the alert pictures in README.md and docs/ALERTS.md from what the
# channels really receive: the `previews_for_the_docs` test sends an alert, a
# 16-event digest and a hostile event through the app to Slack and Teams
# (wiremock) and email (the test SMTP sink) and saves the payloads, and
# `living_alert_previews_for_the_docs` runs a living alert (Slack app mode) to
# the fake Slack Web API: the alert edited by its digest, the digest in its
# thread, the alert resolved;
# docs/preview/build-pages.js renders Slack as a Block Kit approximation, the
# Teams cards with Microsoft's Adaptive Cards SDK and frames the emails' HTML
# parts; headless Chromium screenshots each at desktop width and at 375 px.
#
# Needs: cargo, python3, node, npm adaptivecards (scripts/test-deps.sh) and
# Chromium (Debian: apt-get install chromium fonts-noto-color-emoji).
# Writes docs/images/{slack,teams,email}-{desktop,phone}.png, slack-living.png and the sample
# Slack payload between the slack-payload markers in docs/ALERTS.md.
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

echo "render-previews: sending an alert, a digest, a hostile event and a living alert through the app"
TWILERT_PREVIEW_DIR="$WORK/payloads" cargo test --quiet --test api \
    previews:: -- --ignored >/dev/null
node docs/preview/build-pages.js "$WORK/payloads" "$WORK/pages" "$AC_JS"

chrome() {
    "$CHROMIUM" --headless --no-sandbox --disable-gpu --disable-background-networking \
        --disable-component-update --disable-sync --no-first-run \
        --user-data-dir="$(mktemp -d -p "$WORK")" --hide-scrollbars --force-device-scale-factor=1 \
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
for channel in slack teams email; do
    desktop=760
    [ "$channel" = email ] && desktop=820
    shoot "$WORK/pages/$channel-desktop.html" "$desktop" "$PWD/docs/images/$channel-desktop.png"
    shoot "$WORK/pages/$channel-phone.html" 375 "$PWD/docs/images/$channel-phone.png"
done
shoot "$WORK/pages/slack-living-desktop.html" 760 "$PWD/docs/images/slack-living.png"
python3 - "$WORK/payloads/alert.slack.json" docs/ALERTS.md <<'PY'
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
