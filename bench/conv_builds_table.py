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
import os
import shlex
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_table import print_table, run_bench_conv  # noqa: E402

if len(sys.argv) < 4:
    sys.exit(__doc__)
rounds, filt, binaries = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
results = {b: {} for b in binaries}  # binary -> benchmark -> [(gflops, pct)]
for r in range(rounds):
    for b in binaries:
        _, cells = run_bench_conv(shlex.split(b), filt)
        for key, cell in cells.items():
            results[b].setdefault(key, []).append(cell)
        print(f"round {r + 1}/{rounds} {b}: done", file=sys.stderr)

print(f"{rounds} rounds, medians")
print()
print_table(results, binaries)
