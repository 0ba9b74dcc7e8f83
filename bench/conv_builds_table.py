#!/usr/bin/python3
"""Per-convolution table of several bench_conv builds (before / after a kernel change): each round
runs every binary once on the benchmarks matching FILTER, alternating, each in a fresh process
under `nice -n 19`, so all see the same machine load; per cell the median over the rounds of
GFLOP/s and of % of the FMA peak bench_conv measures beside each benchmark (medians of different
rounds, so they do not divide into each other). The environment passes through (OMP_NUM_THREADS,
DEEPSLIDE_ISA); a "binary" may carry its own settings ("env DEEPSLIDE_CONV_1X1=rows
build/bench_conv"). bench/compare_conv_builds.sh does the same for one benchmark. Markdown on
stdout.

    python3 bench/conv_builds_table.py ROUNDS FILTER /tmp/old/bench_conv build/bench_conv
"""
import json
import shlex
import statistics
import subprocess
import sys

if len(sys.argv) < 4:
    sys.exit(__doc__)
rounds, filt, binaries = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = {b: {} for b in binaries}  # binary -> benchmark -> [(gflops, pct)]
for r in range(rounds):
    for b in binaries:
        p = subprocess.run(["nice", "-n", "19", *shlex.split(b), f"--benchmark_filter={filt}", "--benchmark_format=json"],
                           capture_output=True, text=True, check=True)
        for x in json.loads(p.stdout)["benchmarks"]:
            key = x["name"].split("/min_time")[0]
            results[b].setdefault(key, []).append((x["GFLOPs"], x["peak_pct"]))
        print(f"round {r + 1}/{rounds} {b}: done", file=sys.stderr)

print(f"{rounds} rounds, medians")
print()
print("| convolution | pass | " + " | ".join(f"{b} GFLOP/s (% peak)" for b in binaries) + " |")
print("|---|---|" + "---|" * len(binaries))
for key in results[binaries[0]]:
    conv, pass_ = key.rsplit("/", 1)
    cells = []
    for b in binaries:
        v = results[b].get(key, [])
        cells.append(f"{statistics.median(g for g, _ in v):.1f} ({statistics.median(p for _, p in v):.1f})" if v else "-")
    print(f"| {conv} | {pass_} | " + " | ".join(cells) + " |")
