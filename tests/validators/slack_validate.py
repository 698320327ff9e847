#!/usr/bin/env python3
"""Validates Slack payloads with Slack's own Block Kit models (PyPI slack-sdk).

Usage: slack_validate.py DIR   -- checks every *.json in DIR.
Each payload must be an object with a non-empty "text"; every block must parse
(slack_sdk.models.blocks.Block.parse) and pass validate_json(), which raises
on Slack's limits (header 150 chars, section text 3000, 10 fields, ...).
Exit status 0 when every file passes; 1 with one line per problem otherwise.
"""
import json
import pathlib
import sys

try:
    from slack_sdk.models.blocks import Block
except ImportError:
    print("slack-sdk is not installed; run scripts/test-deps.sh", file=sys.stderr)
    sys.exit(2)

MAX_BLOCKS = 50


def check(path):
    problems = []
    payload = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(payload, dict):
        return ["payload is not a JSON object"]
    text = payload.get("text")
    if not isinstance(text, str) or not text.strip():
        problems.append('missing non-empty "text" fallback')
    lists = [("blocks", payload.get("blocks", []))]
    attachments = payload.get("attachments", [])
    if not isinstance(attachments, list):
        return problems + ['"attachments" is not an array']
    for j, att in enumerate(attachments):
        if not isinstance(att, dict):
            problems.append(f"attachments[{j}] is not an object")
            continue
        color = att.get("color")
        if color is not None and not (isinstance(color, str) and color.startswith("#") and len(color) == 7):
            problems.append(f"attachments[{j}].color {color!r} is not #rrggbb")
        lists.append((f"attachments[{j}].blocks", att.get("blocks", [])))
    for where, blocks in lists:
        problems += check_blocks(where, blocks)
    return problems


def check_blocks(where, blocks):
    problems = []
    if not isinstance(blocks, list):
        return [f'"{where}" is not an array']
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"{where}: {len(blocks)} blocks (max {MAX_BLOCKS})")
    for i, raw in enumerate(blocks):
        block = Block.parse(raw)
        if block is None:
            problems.append(f"{where}[{i}]: unknown block type {raw.get('type')!r}")
            continue
        try:
            block.validate_json()
        except Exception as e:  # SlackObjectFormationError and friends
            problems.append(f"{where}[{i}] ({raw.get('type')}): {type(e).__name__}: {e}")
    return problems


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    files = sorted(pathlib.Path(sys.argv[1]).glob("*.json"))
    if not files:
        print(f"no *.json payloads in {sys.argv[1]}", file=sys.stderr)
        return 1
    failed = 0
    for f in files:
        problems = check(f)
        for p in problems:
            print(f"{f.name}: {p}")
        failed += bool(problems)
    print(f"slack: {len(files) - failed}/{len(files)} payloads valid")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
