#!/usr/bin/env python3
"""Checks that the docs name things that exist: every repository path in backticks in README.md
and docs/*.md is a file or folder of the tree, and every function or type the walkthrough and the
design doc name in backticks (snake_case, CamelCase::member) is defined or declared in a source
file. A reader new to the code must find each stage where the docs say it is. Exit 1 and a list
of what is missing otherwise."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOP = ("base", "engine", "layers", "weights", "slide", "dist", "train", "infer", "pipeline", "serve", "stain", "cli",
       "scripts", "tests", "bench", "docs", "configs", ".ci")
SOURCE_EXT = {".h", ".cpp", ".py", ".sh"}
CODE = re.compile(r"`([^`\n]+)`")
PATH = re.compile(r"^(?:\./)?((?:%s)/[A-Za-z0-9_./*{},-]*)$" % "|".join(re.escape(t) for t in TOP))
IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_~][A-Za-z0-9_]*)*(?:\(\))?$")


def expand(path):
    """slide/reader/jpeg_*.cpp and infer/evaluation.{h,cpp} name several files; each must exist."""
    m = re.search(r"\{([^}]*)\}", path)
    if m:
        return [p for alt in m.group(1).split(",") for p in expand(path[:m.start()] + alt + path[m.end():])]
    return [path]


def path_exists(path):
    if "*" in path:
        return any(ROOT.glob(path))
    # A module is named without its extension: weights/model_forward is model_forward.{h,cpp}.
    return any((ROOT / (path + ext)).exists() for ext in ("", ".h", ".cpp", ".py"))


def source_text():
    chunks = [(ROOT / "CMakeLists.txt").read_text(), (ROOT / "Makefile").read_text()]
    for top in TOP:
        for f in (ROOT / top).rglob("*"):
            if f.suffix in SOURCE_EXT and "fixtures" not in f.parts:
                chunks.append(f.read_text(errors="replace"))
    return "\n".join(chunks)


def main():
    docs = [ROOT / "README.md", ROOT / "BENCHMARKS.md"] + sorted((ROOT / "docs").glob("*.md"))
    symbol_docs = {ROOT / "docs" / "walkthrough.md", ROOT / "docs" / "design.md"}
    text = source_text()
    words = set(re.findall(r"[A-Za-z_~][A-Za-z0-9_]*", text))
    missing = []
    for doc in docs:
        for lineno, line in enumerate(doc.read_text().splitlines(), 1):
            for token in CODE.findall(line):
                token = token.strip().rstrip(".,:;")
                where = f"{doc.relative_to(ROOT)}:{lineno}"
                m = PATH.match(token.split(":")[0].split(" ")[0])
                if m:
                    for p in expand(m.group(1).rstrip("/")):
                        if not path_exists(p):
                            missing.append(f"{where}: no file or folder {p}")
                    continue
                if doc in symbol_docs and IDENT.match(token) and ("_" in token or "::" in token):
                    name = token.rstrip("()").split("::")
                    if token.isupper() or token.startswith("DEEPSLIDE_") or token.endswith("_") \
                            or token.startswith("foo"):
                        continue  # environment variables, constants and placeholders (d_, foo_ref)
                    if not all(part in words for part in name):
                        missing.append(f"{where}: {token} is not in any source file")
    for m in missing:
        print(m)
    if missing:
        print(f"check_docs: {len(missing)} names in the docs do not exist in the tree", file=sys.stderr)
        return 1
    print(f"check_docs: every path and name in {len(docs)} documents exists")
    return 0


if __name__ == "__main__":
    sys.exit(main())
