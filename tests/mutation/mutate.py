#!/usr/bin/env python3
"""mutate.py - read the curated mutant list and apply one mutant to a tree.

  mutate.py LIST ids [REGEX]   print "id<TAB>suite<TAB>file<TAB>desc" of every mutant (id matching REGEX)
  mutate.py LIST apply ID TREE apply mutant ID to TREE/<file>; exit 0 applied,
                               3 STALE (file missing, or the snippet not found exactly once)

List format (tests/mutation/README.md): blocks separated by blank lines, one
"key: value" per line; keys id, file, desc, find, repl, and optional suite
(plain | tsan). In find/repl, \\n is a newline, \\t a tab and \\\\ a backslash.
Lines starting with '#' are comments.
"""
import re
import sys


def unescape(s):
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            out.append({"n": "\n", "t": "\t", "\\": "\\"}.get(s[i + 1], "\\" + s[i + 1]))
            i += 2
        else:
            out.append(s[i])
            i += 1
    return "".join(out)


def parse(path):
    mutants, cur = [], {}
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            if not line.strip():
                if cur:
                    mutants.append(cur)
                cur = {}
                continue
            key, sep, val = line.partition(": ")
            if not sep or key not in ("id", "file", "desc", "find", "repl", "suite"):
                sys.exit(f"{path}:{n}: expected 'key: value' with key id|file|desc|find|repl|suite")
            cur[key] = val
            cur.setdefault("line", n)
    if cur:
        mutants.append(cur)
    ids = set()
    for m in mutants:
        for k in ("id", "file", "desc", "find", "repl"):
            if k not in m:
                sys.exit(f"{path}:{m['line']}: mutant without '{k}'")
        if m["id"] in ids:
            sys.exit(f"{path}:{m['line']}: duplicate id {m['id']}")
        ids.add(m["id"])
        m.setdefault("suite", "plain")
        if m["suite"] not in ("plain", "tsan"):
            sys.exit(f"{path}:{m['line']}: suite must be plain or tsan")
    return mutants


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    mutants = parse(sys.argv[1])
    if sys.argv[2] == "ids":
        rx = re.compile(sys.argv[3]) if len(sys.argv) > 3 else None
        for m in mutants:
            if not rx or rx.search(m["id"]):
                print(f"{m['id']}\t{m['suite']}\t{m['file']}\t{m['desc']}")
        return 0
    if sys.argv[2] == "apply" and len(sys.argv) == 5:
        m = next((m for m in mutants if m["id"] == sys.argv[3]), None)
        if not m:
            sys.exit(f"no mutant {sys.argv[3]}")
        path = f"{sys.argv[4]}/{m['file']}"
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except FileNotFoundError:
            print(f"STALE: {m['file']} does not exist")
            return 3
        find, repl = unescape(m["find"]), unescape(m["repl"])
        count = text.count(find)
        if count != 1:
            print(f"STALE: snippet found {count} times in {m['file']} (must be exactly once)")
            return 3
        with open(path, "w", encoding="utf-8") as f:
            f.write(text.replace(find, repl))
        return 0
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main())
