#!/usr/bin/env python3
"""Parses one RFC 5322 message from stdin with Python's own email package and
prints its structure as JSON, so the email tests check what a mail client sees.

Output: {"headers": [[name, value], ...], "content_type": ..., "defects": [...],
         "parts": [{"content_type": ..., "charset": ..., "content": ...}, ...]}
"""
import email
import email.policy
import json
import sys

msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.default)
parts = []
for part in (msg.iter_parts() if msg.is_multipart() else [msg]):
    parts.append({
        "content_type": part.get_content_type(),
        "charset": part.get_content_charset(),
        "transfer_encoding": part.get("Content-Transfer-Encoding", ""),
        "content": part.get_content(),
    })
defects = [type(d).__name__ for d in msg.defects]
for part in msg.walk():
    defects += [type(d).__name__ for d in part.defects]
json.dump({
    "headers": [[k, str(v)] for k, v in msg.items()],
    "content_type": msg.get_content_type(),
    "defects": defects,
    "parts": parts,
}, sys.stdout)
