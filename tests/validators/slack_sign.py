#!/usr/bin/env python3
"""Signs and verifies Slack requests with Slack's own Python SDK
(slack_sdk.signature.SignatureVerifier, PyPI slack-sdk), so the tests check
twilert's verifier against Slack's implementation, not just our own signer.

stdin: JSON list of {"secret", "timestamp", "body", "now", "signature"?}.
stdout: JSON list of {"signature", "valid"}: the SDK's signature of body at
timestamp, and whether the SDK accepts "signature" (default: its own) at "now"
(its clock injected).
"""
import json
import sys

try:
    from slack_sdk.signature import Clock, SignatureVerifier
except ImportError:
    print("slack-sdk is not installed; run scripts/test-deps.sh", file=sys.stderr)
    sys.exit(2)


class At(Clock):
    def __init__(self, now):
        self._now = now

    def now(self):
        return self._now


out = []
for case in json.load(sys.stdin):
    v = SignatureVerifier(case["secret"], clock=At(case["now"]))
    body = case["body"].encode("utf-8")
    sig = v.generate_signature(timestamp=case["timestamp"], body=body)
    given = case.get("signature", sig)
    valid = v.is_valid_request(
        body, {"X-Slack-Request-Timestamp": case["timestamp"], "X-Slack-Signature": given}
    )
    out.append({"signature": sig, "valid": valid})
json.dump(out, sys.stdout)
