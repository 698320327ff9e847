#!/usr/bin/env python3
"""Generate src/catalog_builtin.tsv, the catalog embedded in twilert.

Usage: scripts/gen-builtin-catalog.py [twilio-error-codes.json] [out.tsv]
(defaults: ../shared/data/twilio-error-codes.json, src/catalog_builtin.tsv,
relative to the crate root).

Every code gets its title, secondary message, log level, product and its
first causes/solutions: whole items (bullets or paragraphs), never a bullet
cut from its text, after joining the lines Twilio hard-wrapped. The codes
people usually alert on (webhooks, TwiML, voice, API, messaging delivery, SIP,
WhatsApp/conversations) keep up to MAX_ITEMS items, the rest one; load the
full JSON with `[catalog] path` for everything. Causes/solutions missing from
an entry are taken from the "Possible Causes"/"Possible Solutions" sections of
its `docs`. Texts are stored raw (HTML/markdown as
Twilio wrote them): twilert's `catalog::plain_text` cleans them at load, so
there is one cleaning implementation. Format: one record per line,
tab-separated, `\\`, tab, newline escaped as `\\\\`, `\\t`, `\\n`; empty
field = absent.
"""
import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SRC = os.path.join(ROOT, "..", "shared", "data", "twilio-error-codes.json")
OUT = os.path.join(ROOT, "src", "catalog_builtin.tsv")

# Whole families: HTTP/webhook (11xxx), TwiML (12xxx), messaging delivery
# (300xx), SIP (32xxx), conversations/WhatsApp (63xxx).
FAMILY_PREFIXES = ("11", "12", "300", "32", "63")
# Hand-picked from the big 13xxx (voice) and 21xxx (REST API) families.
PICKED = {
    13212, 13214, 13217, 13223, 13224, 13225, 13226, 13227, 13230, 13520,
    21201, 21210, 21211, 21212, 21214, 21215, 21217, 21219, 21220, 21401,
    21402, 21408, 21421, 21422, 21601, 21602, 21603, 21604, 21606, 21608,
    21610, 21611, 21612, 21614, 21617, 21618, 21620, 21623, 21631, 21635,
    30130, 31002, 31003, 31005, 31009, 31205, 45301,
}
MAX_TEXT = 400  # about this many characters per causes/solutions text (whole items)
MAX_ONE = 200  # about this many characters of causes/solutions for the other codes
MAX_ITEMS = 4  # templates show three, then "more in docs"
MAX_FILE = 480 * 1024


def wants_details(code):
    s = str(code)
    return (len(s) == 5 and s.startswith(FAMILY_PREFIXES)) or code in PICKED


ITEM_START = re.compile(r"^\s*([*+\-\u2022]\s|\d+[.)]\s|#|```|<li|<ul|<ol|<p|<br|<div)", re.I)


def join_wrapped(text):
    """Lines joined where Twilio hard-wrapped them: a line that starts no
    bullet, numbered item, heading or paragraph continues the one before.
    Code fences are kept line by line."""
    if not text:
        return ""
    out, in_code, prev_blank = [], False, True
    for raw in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = raw.rstrip()
        if line.strip().startswith("```"):
            in_code = not in_code
            out.append(line)
            prev_blank = False
            continue
        if in_code:
            out.append(line)
            continue
        if not line.strip():
            if out and out[-1] != "":
                out.append("")
            prev_blank = True
            continue
        starts_item = prev_blank or not out or ITEM_START.match(line) or out[-1].lstrip().startswith("#")
        if starts_item:
            out.append(line)
        else:
            out[-1] = out[-1] + " " + line.strip()
        prev_blank = False
    return "\n".join(out).strip()


def items(text):
    """Whole bullets / paragraphs of a joined text (a fenced code block is one item)."""
    result, cur, in_code = [], [], False
    for line in text.split("\n"):
        if line.strip().startswith("```"):
            in_code = not in_code
            cur.append(line)
            if not in_code:
                result.append("\n".join(cur))
                cur = []
            continue
        if in_code:
            cur.append(line)
            continue
        if cur:
            result.append("\n".join(cur))
            cur = []
        if line.strip():
            cur = [line]
    if cur:
        result.append("\n".join(cur))
    return [r for r in result if r.strip()]


def sentences(item, budget):
    """Whole sentences of one long item, up to `budget` characters (at least one)."""
    parts = re.split(r"(?<=[.!?])\s+", item)
    out = parts[0]
    for p in parts[1:]:
        if len(out) + 1 + len(p) > budget:
            break
        out += " " + p
    return out


def short(text, limit, budget):
    """The first whole items of `text` (never a bullet cut from its text),
    up to `limit` items and about `budget` characters (a single long first
    item is cut at a sentence end)."""
    out, size = [], 0
    for item in items(join_wrapped(text or "")):
        if out and (len(out) >= limit or size + len(item) + 1 > budget):
            break
        out.append(item)
        size += len(item) + 1
    if len(out) == 1 and len(out[0]) > budget:
        out = [sentences(out[0], budget)]
    joined = "\n".join(out)
    # Never leave an <a> open.
    while len(out) > 1 and joined.lower().count("<a ") != joined.lower().count("</a>"):
        out.pop()
        joined = "\n".join(out)
    return joined.strip()


def docs_section(docs, title):
    """The `#### Possible <title>` section of the markdown `docs`, if any."""
    if not docs:
        return None
    docs = docs.replace("\r\n", "\n")
    m = re.search(r"^#{2,4}\s*Possible " + title + r"\s*$(.*?)(?=^#{1,4}\s|\Z)", docs, re.M | re.S | re.I)
    return m.group(1).strip() if m else None


def field(value):
    if value is None:
        return ""
    if not isinstance(value, str):
        value = str(value)
    value = value.replace("\r\n", "\n").replace("\r", "\n").strip()
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else SRC
    out = sys.argv[2] if len(sys.argv) > 2 else OUT
    with open(src, encoding="utf-8") as f:
        entries = json.load(f)
    rows = {}
    for e in entries:
        try:
            code = int(e.get("code"))
        except (TypeError, ValueError):
            continue
        # Common codes keep up to MAX_ITEMS items; every other code its first item
        # each, so no alert says nothing about causes (82002, 64014, ...).
        limit, budget = (MAX_ITEMS, MAX_TEXT) if wants_details(code) else (3, MAX_ONE)
        # Some entries have their causes/solutions only inside `docs`.
        causes = e.get("causes") or docs_section(e.get("docs"), "Causes")
        solutions = e.get("solutions") or docs_section(e.get("docs"), "Solutions")
        rows[code] = "\t".join(
            [
                str(code),
                field(e.get("log_level")),
                field(e.get("product")),
                field(e.get("message")),
                field(e.get("secondary_message")),
                field(short(causes, limit, budget)),
                field(short(solutions, limit, budget)),
            ]
        )
    header = (
        "# generated by scripts/gen-builtin-catalog.py from Twilio's twilio-error-codes.json; do not edit\n"
        "# code\tlog_level\tproduct\tmessage\tsecondary_message\tcauses\tsolutions\n"
    )
    body = header + "".join(rows[c] + "\n" for c in sorted(rows))
    data = body.encode("utf-8")
    if len(data) > MAX_FILE:
        sys.exit(f"{out}: {len(data)} bytes, over the {MAX_FILE} budget; trim PICKED or MAX_TEXT")
    with open(out, "wb") as f:
        f.write(data)
    print(f"{out}: {len(rows)} codes, {len(data)} bytes")


if __name__ == "__main__":
    main()
