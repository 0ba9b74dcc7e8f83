#!/usr/bin/env python3
"""Lists the longest functions in the project's C++ sources (not tests/): a reading aid for
keeping functions short enough to follow. Counts the lines from a definition's opening line to
its closing brace, for definitions that start at column 0 (free functions and out-of-class
member functions; lambdas and in-class bodies count toward the function that holds them).

Usage: scripts/function_lengths.py [--top N] [--over L] [ROOT]
"""
import argparse
import os
import re

FOLDERS = ["base", "engine", "layers", "weights", "stain", "slide", "dist", "train", "infer", "pipeline", "serve", "cli",
           "bench"]
START = re.compile(r"^[A-Za-z_][\w:<>,\s\*&~\[\]]*\b([\w:~]+)\s*\(")
# String and character literals and line comments: their braces are not the code's.
LITERAL = re.compile(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'|//.*')
NOT_FUNC = re.compile(r"^(namespace|struct|class|enum|union|using|typedef|template\s*<[^>]*>\s*(struct|class))\b")


def functions(path):
    with open(path, encoding="utf-8") as f:
        lines = [LITERAL.sub("", line) for line in f.read().split("\n")]
    i = 0
    while i < len(lines):
        line = lines[i]
        m = START.match(line)
        if not m or NOT_FUNC.match(line) or line.rstrip().endswith(";"):
            i += 1
            continue
        # The body starts at the first '{' on this line or the next few (wrapped parameter lists).
        j = i
        while j < len(lines) and j < i + 8 and "{" not in lines[j] and not lines[j].rstrip().endswith(";"):
            j += 1
        if j >= len(lines) or "{" not in lines[j]:
            i += 1
            continue
        depth, k = 0, j
        while k < len(lines):
            depth += lines[k].count("{") - lines[k].count("}")
            if depth <= 0 and k >= j:
                break
            k += 1
        yield m.group(1), i + 1, k - i + 1
        i = k + 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("root", nargs="?", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--top", type=int, default=15)
    ap.add_argument("--over", type=int, default=0, help="list every function longer than this")
    a = ap.parse_args()
    found = []
    for folder in FOLDERS:
        for root, _, files in os.walk(os.path.join(a.root, folder)):
            for f in files:
                if f.endswith(".cpp"):
                    p = os.path.join(root, f)
                    for name, line, n in functions(p):
                        found.append((n, os.path.relpath(p, a.root), line, name))
    found.sort(reverse=True)
    shown = [x for x in found if x[0] > a.over] if a.over else found[: a.top]
    for n, p, line, name in shown:
        print(f"{n:5d}  {p}:{line}  {name}")
    over_60 = sum(1 for x in found if x[0] > 60)
    print(f"{len(found)} functions, {over_60} longer than 60 lines")


if __name__ == "__main__":
    main()
