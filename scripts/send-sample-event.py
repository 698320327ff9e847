#!/usr/bin/env python3
"""Send a Twilio Debugger event to twilert, signed exactly as Twilio signs it.

    python3 scripts/send-sample-event.py                      # to the shipped config's URL
    python3 scripts/send-sample-event.py --code 30003 --count 20
    TWILIO_AUTH_TOKEN=... python3 scripts/send-sample-event.py --url https://alerts.example.com/twilio/debugger

Standard library only. The signature is base64(HMAC-SHA1(auth token, URL + every
form parameter name and value, sorted by name)).
"""
import argparse, base64, hashlib, hmac, json, os, secrets, sys, urllib.parse, urllib.request
from datetime import datetime, timezone


def sign(token, url, params):
    data = url + "".join(k + v for k, v in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


def event(code, resource, level):
    payload = {
        "resource_sid": resource,
        "service_sid": None,
        "error_code": str(code),
        "more_info": {"Msg": "An attempt to retrieve content from https://example.com/voice returned the HTTP status code 502",
                      "sourceComponent": "14100", "url": "https://example.com/voice"},
        "webhook": {
            "type": "application/x-www-form-urlencoded",
            "request": {"method": "POST", "url": "https://example.com/voice",
                        "headers": {"User-Agent": "TwilioProxy/1.1"}, "parameters": {"CallSid": resource}},
            "response": {"status_code": 502, "headers": {"Content-Type": "text/html"}, "body": "<html>Bad Gateway</html>"},
        },
    }
    return [
        ("Sid", "NO" + secrets.token_hex(16)),
        ("AccountSid", "AC" + "0" * 31 + "1"),
        ("ParentAccountSid", ""),
        ("Timestamp", datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"),
        ("Level", level),
        ("PayloadType", "application/json"),
        ("Payload", json.dumps(payload)),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", default=os.environ.get("TWILERT_PUBLIC_URL", "http://127.0.0.1:8080/twilio/debugger"))
    ap.add_argument("--token", default=os.environ.get("TWILIO_AUTH_TOKEN", "local-dev-token"))
    ap.add_argument("--code", default="11200")
    ap.add_argument("--resource", default="CA" + "1234567890abcdef" * 2)
    ap.add_argument("--level", default="ERROR")
    ap.add_argument("--count", type=int, default=1)
    a = ap.parse_args()
    for _ in range(a.count):
        params = event(a.code, a.resource, a.level)
        body = urllib.parse.urlencode(params).encode()
        req = urllib.request.Request(a.url, data=body, method="POST", headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": sign(a.token, a.url, params)})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                print(r.status, r.read().decode())
        except urllib.error.HTTPError as e:
            print(e.code, e.read().decode(), file=sys.stderr)
            sys.exit(1)


if __name__ == "__main__":
    main()
