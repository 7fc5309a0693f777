#!/usr/bin/python3
"""Build the demo pretraining corpus from Debian's DFSG-free fortune databases.

Source: the `fortunes` and `fortunes-min` packages (/usr/share/games/fortunes; BSD licence,
see /usr/share/doc/fortunes/copyright). The offensive `fortunes-off` set is not used, and a few
more databases are left out because they are ASCII art, chat logs, code, or jokes about groups
of people. Each fortune is cleaned: attributions ("-- Author") dropped, whitespace normalised,
prose re-flowed into one line per paragraph (short-line verse keeps its line breaks), non-ASCII
transliterated or the fortune dropped, and long or symbol-heavy entries dropped.

Output: one JSON string per line (a fortune may contain newlines), shuffled with a fixed seed.

    /usr/bin/python3 make_demo_corpus.py --out /tmp/qls-demo/corpus.jsonl
"""
import argparse
import json
import random
import re
import unicodedata
from pathlib import Path

FORTUNE_DIR = Path("/usr/share/games/fortunes")
# ASCII art, IRC logs, Perl code, untranslated text, surreal all-caps rants, and jokes about
# ethnic groups, the sexes, drugs or politics do not belong in a product demo.
EXCLUDED = {"art", "ascii-art", "knghtbrd", "perl", "translate-me", "zippy",
            "ethnic", "men-women", "drugs", "politics"}
MAX_CHARS = 600
ATTRIBUTION = re.compile(r"^\s*(--|—|-\s)")


def databases():
    return sorted(p for p in FORTUNE_DIR.iterdir()
                  if p.is_file() and "." not in p.name and p.name not in EXCLUDED)


def split_entries(text):
    return [e for e in re.split(r"^%\s*$", text, flags=re.M) if e.strip()]


def to_ascii(s):
    s = (s.replace("\u2018", "'").replace("\u2019", "'").replace("\u201c", '"')
         .replace("\u201d", '"').replace("\u2013", "-").replace("\u2014", "--")
         .replace("\u2026", "..."))
    s = unicodedata.normalize("NFKD", s)
    return "".join(c for c in s if not unicodedata.combining(c))


def strip_attribution(lines):
    # The attribution is the trailing block that starts with an indented "--".
    for i in range(len(lines) - 1, -1, -1):
        if ATTRIBUTION.match(lines[i]):
            return lines[:i]
        if not lines[i].startswith((" ", "\t")):
            break
    return lines


def reflow(lines):
    paragraphs, cur = [], []
    for line in lines:
        if line.strip():
            cur.append(" ".join(line.split()))
        elif cur:
            paragraphs.append(cur)
            cur = []
    if cur:
        paragraphs.append(cur)
    out = []
    for para in paragraphs:
        verse = len(para) > 1 and max(len(l) for l in para) < 48
        out.append("\n".join(para) if verse else " ".join(para))
    return "\n".join(out)


def clean(entry):
    text = to_ascii(entry.expandtabs(8))
    lines = strip_attribution(text.strip("\n").split("\n"))
    body = reflow(lines).strip()
    if not body or len(body) > MAX_CHARS or len(body) < 12:
        return None
    if any(ord(c) > 126 or (ord(c) < 32 and c != "\n") for c in body):
        return None
    letters = sum(c.isalpha() for c in body)
    if letters < 0.6 * len(body.replace(" ", "")) or body.count("\n") > 8:
        return None
    return body


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    seen, fortunes, per_db = set(), [], {}
    for db in databases():
        kept = 0
        for entry in split_entries(db.read_text(encoding="utf-8", errors="replace")):
            body = clean(entry)
            if body and body not in seen:
                seen.add(body)
                fortunes.append(body)
                kept += 1
        per_db[db.name] = kept
    random.Random(args.seed).shuffle(fortunes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w") as f:
        for body in fortunes:
            f.write(json.dumps(body) + "\n")
    chars = sum(len(b) for b in fortunes)
    print(f"{len(fortunes)} fortunes, {chars} chars from {len(per_db)} databases")
    print(json.dumps(per_db))


if __name__ == "__main__":
    main()
