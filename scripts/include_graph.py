#!/usr/bin/env python3
"""Prints which layer includes which, and checks the layering the build enforces.

The layers and what each may use come from BUILD/layers.json, which CMakeLists.txt writes from its
ds_layer() table (the one place they are declared). Three checks, any failure exits 1:

1. every quoted #include in a layer's folders names a header of that layer or of a layer below it
   (the transitive closure of `uses`), and none climbs with "../";
2. the compiler agrees: for every pair of layers, a header of the upper one is preprocessed with
   the lower one's include flags (from BUILD/compile_commands.json) and must not be found, and a
   header of every layer it may use must be (so the first check cannot pass vacuously);
3. nothing outside the layers (tests/, bench/) is checked: they sit above every layer.

Usage: scripts/include_graph.py [BUILD]   (default: build)
"""
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def load_layers(build):
    with open(os.path.join(build, "layers.json")) as f:
        layers = json.load(f)
    closure = {}

    def visible(name):
        if name not in closure:
            seen = set([name])
            for u in layers[name]["uses"]:
                seen |= visible(u)
            closure[name] = seen
        return closure[name]

    for name in layers:
        visible(name)
    return layers, closure


def layer_of(path, layers):
    """The layer whose folder holds `path` (relative to the source root), longest folder first."""
    best, best_len = None, -1
    for name, spec in layers.items():
        for d in spec["dirs"]:
            if (path == d or path.startswith(d + "/")) and len(d) > best_len:
                best, best_len = name, len(d)
    return best


def sources(layers):
    for name, spec in layers.items():
        for d in spec["dirs"]:
            for root, _, files in os.walk(os.path.join(SRC, d)):
                for f in sorted(files):
                    if f.endswith((".h", ".cpp", ".inc")):
                        yield name, os.path.relpath(os.path.join(root, f), SRC)


def check_sources(layers, closure):
    counts, errors = {}, []
    for name, rel in sources(layers):
        with open(os.path.join(SRC, rel), encoding="utf-8") as f:
            text = f.read()
        for inc in INCLUDE.findall(text):
            if ".." in inc.split("/"):
                errors.append(f"{rel}: #include \"{inc}\" climbs out of its folder")
                continue
            here = os.path.join(os.path.dirname(rel), inc)
            target = inc if os.path.exists(os.path.join(SRC, inc)) else here
            to = layer_of(target, layers)
            if to is None:
                errors.append(f"{rel}: #include \"{inc}\" is not a header of any layer")
                continue
            counts[(name, to)] = counts.get((name, to), 0) + 1
            if to not in closure[name]:
                errors.append(f"{rel}: #include \"{inc}\": {name} may not use {to}")
    return counts, errors


def compile_flags(build, layers):
    """For each layer, the compile command of one of its .cpp files, as an argument list."""
    with open(os.path.join(build, "compile_commands.json")) as f:
        entries = json.load(f)
    flags = {}
    for e in entries:
        rel = os.path.relpath(e["file"], SRC)
        name = layer_of(rel, layers)
        if name is None or name in flags or "_avx" in rel:
            continue
        args = e.get("arguments") or shlex.split(e["command"])
        keep, skip = [], False
        for a in args[1:]:
            if skip:
                skip = False
                continue
            if a in ("-o", "-c"):
                skip = a == "-o"
                continue
            if a == e["file"] or a.endswith(".cpp"):
                continue
            keep.append(a)
        flags[name] = (args[0], keep, e["directory"])
    return flags


def a_header(spec):
    for d in spec["dirs"]:
        for f in sorted(os.listdir(os.path.join(SRC, d))):
            if f.endswith(".h"):
                return d + "/" + f
    return None


def check_compiler(build, layers, closure):
    flags = compile_flags(build, layers)
    errors, probes = [], 0
    with tempfile.TemporaryDirectory() as tmp:
        probe = os.path.join(tmp, "probe.cpp")
        for lower, (cxx, args, cwd) in sorted(flags.items()):
            for upper, spec in sorted(layers.items()):
                header = a_header(spec)
                if header is None:
                    continue
                with open(probe, "w") as f:
                    f.write(f'#include "{header}"\n')
                r = subprocess.run([cxx, *args, "-E", "-o", os.devnull, probe], cwd=cwd,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                probes += 1
                allowed = upper in closure[lower]
                if allowed and r.returncode != 0:
                    errors.append(f"{lower} should see {header} but the compiler says: "
                                  f"{r.stderr.strip().splitlines()[0] if r.stderr.strip() else r.returncode}")
                if not allowed and r.returncode == 0:
                    errors.append(f"{lower} can include {header} of {upper}: the build does not refuse it")
    missing = sorted(set(layers) - set(flags))
    for m in missing:
        errors.append(f"{m}: no compile command found to probe")
    return probes, errors


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    layers, closure = load_layers(build)
    counts, errors = check_sources(layers, closure)
    names = list(layers)
    short = [n.replace("ds_", "") for n in names]
    width = max(len(s) for s in short)
    print("includes: row layer -> column layer (counts of #include lines)")
    print(" " * (width + 1) + " ".join(s[:7].rjust(7) for s in short))
    for n, s in zip(names, short):
        row = [str(counts.get((n, m), "")).rjust(7) for m in names]
        print(s.ljust(width + 1) + " ".join(row))
    probes, compile_errors = check_compiler(build, layers, closure)
    errors += compile_errors
    print(f"compiler probes: {probes} (each layer's include flags against a header of every layer)")
    for e in errors:
        print("error: " + e, file=sys.stderr)
    if errors:
        return 1
    print("layering: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
