#!/usr/bin/env python3
"""Signs requests with Twilio's own Python SDK (twilio.request_validator), so the
tests check twilert against Twilio's implementation, not just our own signer.

stdin: JSON list of {"token", "url", "params": [[k, v], ...]} (form) or
{"token", "url", "body": "..."} (JSON: the SDK adds bodySHA256 to the URL).
stdout: JSON list of {"url", "signature"}; each is also checked with
RequestValidator.validate so a wrong use of the SDK fails here.
"""
import json
import sys
from urllib.parse import urlencode

from twilio.request_validator import RequestValidator

out = []
for case in json.load(sys.stdin):
    v = RequestValidator(case["token"])
    if "body" in case:
        body = case["body"]
        sep = "&" if "?" in case["url"] else "?"
        url = case["url"] + sep + urlencode({"bodySHA256": v.compute_hash(body)})
        sig = v.compute_signature(url, {})
        assert v.validate(url, body, sig), "SDK rejects its own JSON signature"
    else:
        url = case["url"]
        params = dict(case["params"])
        sig = v.compute_signature(url, params)
        assert v.validate(url, params, sig), "SDK rejects its own form signature"
    out.append({"url": url, "signature": sig})
json.dump(out, sys.stdout)
