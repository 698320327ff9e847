#!/usr/bin/env python3
"""Send Twilio Debugger events to twilert, signed exactly as Twilio signs them.

    python3 scripts/send-sample-event.py               # one 11200 "HTTP retrieval failure"
    python3 scripts/send-sample-event.py --storm       # 50 events on one demo resource:
                                                       # an alert now, a digest ~20 s later
    python3 scripts/send-sample-event.py --code 30003  # an event of another code
    TWILIO_AUTH_TOKEN=... python3 scripts/send-sample-event.py --url https://alerts.example.com/twilio/debugger

--code: 11200, 11205, 12100, 30003, 30005 and 30008 send a realistic payload (with
the failing webhook's request and response where Twilio sends one); any other code
sends its message from twilert's built-in catalog (src/catalog_builtin.tsv).

--storm uses a fresh resource Sid starting with CAdemo, which the shipped
config.toml's "demo" route matches (window 20 s), so every storm shows its alert
and then its digest within a minute.

If twilert is not up yet (the first release build takes several minutes), this
waits --wait seconds for it, then gives up with one line and exit code 1.

Standard library only. The signature is base64(HMAC-SHA1(auth token, URL + every
form parameter name and value, sorted by name)).
"""
import argparse, base64, hashlib, hmac, json, os, secrets, sys, time, urllib.error, urllib.parse, urllib.request
from datetime import datetime, timezone

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED_URL = "http://127.0.0.1:8080/twilio/debugger"
STORM_COUNT = 50
DEMO_PREFIX = "CAdemo"  # the shipped config.toml's "demo" route: resource_sids = ["CAdemo*"]


def sign(token, url, params):
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def webhook(url, status, content_type, body):
    return {
        "type": "application/x-www-form-urlencoded",
        "request": {"method": "POST", "url": url,
                    "headers": {"User-Agent": "TwilioProxy/1.1"}, "parameters": {"CallStatus": "ringing"}},
        "response": None if status is None else
        {"status_code": status, "headers": {"Content-Type": content_type}, "body": body},
    }


# code -> (level, resource prefix, more_info, webhook): what Twilio sends for these.
CANNED = {
    "11200": ("ERROR", "CA", {"Msg": "An attempt to retrieve content from https://example.com/voice returned the HTTP status code 502",
                              "sourceComponent": "14100", "url": "https://example.com/voice"},
              webhook("https://example.com/voice", 502, "text/html", "<html>Bad Gateway</html>")),
    "11205": ("ERROR", "CA", {"Msg": "HTTP Connection Failure - Read timed out", "sourceComponent": "14100",
                              "url": "https://example.com/voice"},
              webhook("https://example.com/voice", None, None, None)),
    "12100": ("ERROR", "CA", {"Msg": "Document parse failure", "sourceComponent": "12000",
                              "url": "https://example.com/voice", "LogLevel": "ERROR"},
              webhook("https://example.com/voice", 200, "text/xml", "<Response><Say>Hello</Respons>")),
    "30003": ("WARNING", "SM", {"Msg": "Unreachable destination handset", "To": "+15005550009"}, None),
    "30005": ("WARNING", "SM", {"Msg": "Unknown destination handset", "To": "+15005550001"}, None),
    "30008": ("ERROR", "SM", {"Msg": "Unknown error", "To": "+15005550004"}, None),
}


def from_catalog(code):
    """(level, resource prefix, more_info, webhook) for a code from the built-in catalog."""
    try:
        with open(os.path.join(ROOT, "src", "catalog_builtin.tsv"), encoding="utf-8") as f:
            for line in f:
                cols = line.rstrip("\n").split("\t")
                if len(cols) > 3 and cols[0] == code:
                    level = cols[1] if cols[1] in ("ERROR", "WARNING") else "ERROR"
                    prefix = "SM" if code.startswith(("3", "21")) else "CA"
                    return level, prefix, {"Msg": cols[3]}, None
    except OSError:
        pass
    return "ERROR", "CA", {"Msg": "Sample event for error %s" % code}, None


def event(code, resource, level, service):
    default_level, _, more_info, hook = CANNED.get(code) or from_catalog(code)
    payload = {"resource_sid": resource, "service_sid": service, "error_code": code, "more_info": more_info}
    if hook:
        payload["webhook"] = hook
    return [
        ("Sid", "NO" + secrets.token_hex(16)),
        ("AccountSid", "AC" + "0" * 31 + "1"),
        ("ParentAccountSid", ""),
        ("Timestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
        ("Level", level or default_level),
        ("PayloadType", "application/json"),
        ("Payload", json.dumps(payload)),
    ]


def fail(message):
    print("send-sample-event: " + message, file=sys.stderr)
    sys.exit(1)


def post(url, token, params, deadline):
    """(status, body) of one signed POST; waits for the service until `deadline`."""
    body = urllib.parse.urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": sign(token, url, params)}
    waited = False
    while True:
        try:
            req = urllib.request.Request(url, data=body, method="POST", headers=headers)
            with urllib.request.urlopen(req, timeout=10) as r:
                answer = r.status, r.read().decode(errors="replace")
        except urllib.error.HTTPError as e:
            answer = e.code, e.read().decode(errors="replace")
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            refused = isinstance(reason, (ConnectionRefusedError, ConnectionResetError))
            if not refused or time.monotonic() >= deadline:
                hint = "start it first: `cargo run --release -- serve` or `target/release/twilert serve`"
                if waited:  # finish the "waiting" line: still one line in all
                    print(" gave up (%s); %s" % (reason, hint), file=sys.stderr)
                    sys.exit(1)
                fail("cannot reach twilert at %s (%s); %s" % (url, reason, hint))
            if not waited:
                # One line that the outcome completes: "... up" or "... gave up".
                print("waiting for twilert at %s ..." % url, end="", file=sys.stderr, flush=True)
                waited = True
            time.sleep(0.5)
            continue
        if waited:
            print(" up", file=sys.stderr)
        return answer


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("TWILERT_PUBLIC_URL", SHIPPED_URL),
                    help="the URL twilert verifies signatures over (default: $TWILERT_PUBLIC_URL or %(default)s)")
    ap.add_argument("--token", default=os.environ.get("TWILIO_AUTH_TOKEN", "local-dev-token"),
                    help="auth token to sign with (default: $TWILIO_AUTH_TOKEN or the shipped local-dev-token)")
    ap.add_argument("--code", default="11200", help="Twilio error code (default 11200)")
    ap.add_argument("--resource", help="resource Sid (default: a fixed CA/SM Sid; --storm: a fresh CAdemo… Sid)")
    ap.add_argument("--level", help="ERROR or WARNING (default: what Twilio sends for the code)")
    ap.add_argument("--count", type=int, help="events to send (default 1; --storm: %d)" % STORM_COUNT)
    ap.add_argument("--storm", action="store_true",
                    help="a storm on one demo resource: the shipped 'demo' route alerts once, then digests after 20 s")
    ap.add_argument("--wait", type=float, default=30, help="seconds to wait for twilert to start (default 30)")
    a = ap.parse_args()
    code = a.code.strip()
    if not code.isdigit():
        fail("--code must be a number like 11200, not %r" % a.code)
    count = a.count if a.count is not None else (STORM_COUNT if a.storm else 1)
    prefix = (CANNED.get(code) or from_catalog(code))[1]
    if a.resource:
        resource = a.resource
    elif a.storm:
        resource = DEMO_PREFIX + secrets.token_hex(14)
    else:
        resource = prefix + "1234567890abcdef" * 2
    service = "MG" + "0123456789abcdef" * 2 if prefix == "SM" else None
    deadline = time.monotonic() + a.wait
    statuses = {}
    for _ in range(count):
        status, body = post(a.url, a.token, event(code, resource, a.level, service), deadline)
        if status != 200:
            fail("HTTP %d from %s: %s" % (status, a.url, body.strip()))
        if count == 1:
            print(status, body)
        state = json.loads(body).get("status", "?") if body.startswith("{") else "?"
        statuses[state] = statuses.get(state, 0) + 1
    if count > 1:
        summary = ", ".join("%d %s" % (n, s) for s, n in sorted(statuses.items()))
        print("sent %d events of %s on %s (%s)" % (count, code, resource, summary))
        if resource.startswith(DEMO_PREFIX):
            print("the console shows one alert now and a digest of the other %d in about 20 s "
                  "(the demo route's window)" % (count - 1))


if __name__ == "__main__":
    main()
