#!/usr/bin/python3
"""Per-convolution table of ResNet-18's convolutions (batch 16, 224 px: forward, backward data,
backward weights) under three blockings, for whatever CPU it runs on: the Zen 5 constants (the
blocking derived from a 1 MB L2, DEEPSLIDE_CACHES, with Zen 5's weight-gradient tiles), the blocking derived from this CPU's caches,
and this CPU's tuning file (`deepslide tune`, read from TUNED_XDG/deepslide). Each round runs
bench_conv once per blocking, alternating, each in a fresh process; the table gives per cell the
median over the rounds of GFLOP/s and of % of the FMA peak bench_conv measures beside each
benchmark. Markdown on stdout.

    python3 bench/conv_blocking_table.py ROUNDS build/bench_conv TUNED_XDG
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_table import print_table, run_bench_conv  # noqa: E402

if len(sys.argv) != 4:
    sys.exit(__doc__)
rounds, binary, tuned_xdg = int(sys.argv[1]), sys.argv[2], sys.argv[3]
FILTER = r"^(conv1|layer[0-9a-z.]*)/(fwd|bwd_data|bwd_weights)/"
base = {k: v for k, v in os.environ.items() if k not in ("DEEPSLIDE_CACHES", "DEEPSLIDE_TUNING", "XDG_CACHE_HOME",
                                                          "DEEPSLIDE_CONV_BLOCKING")}
CONFIGS = {
    "Zen 5 constants": dict(base, DEEPSLIDE_CACHES="l1d=48K,l2=1M,l3=32M", DEEPSLIDE_TUNING="off",
                            DEEPSLIDE_CONV_BLOCKING="wgrad_vectors=0"),
    "derived": dict(base, DEEPSLIDE_TUNING="off"),
    "tuned": dict(base, XDG_CACHE_HOME=tuned_xdg),
}
results = {c: {} for c in CONFIGS}  # config -> benchmark -> [(gflops, pct)]
context = {}
for r in range(rounds):
    for name, env in CONFIGS.items():
        ctx, cells = run_bench_conv([binary], FILTER, env)
        context[name] = ctx.get("blocking"), ctx.get("caches")
        for key, cell in cells.items():
            results[name].setdefault(key, []).append(cell)
        print(f"round {r + 1}/{rounds} {name}: done", file=sys.stderr)

print(f"{rounds} rounds, medians; blocking sources: " +
      "; ".join(f"{n}: {c[0]} ({c[1]})" for n, c in context.items()))
print()
print_table(results, list(CONFIGS))
