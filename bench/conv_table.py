"""What bench/conv_blocking_table.py and bench/conv_builds_table.py share: one bench_conv run parsed
into per-benchmark (GFLOP/s, % of peak), and the Markdown table of medians over rounds."""
import json
import statistics
import subprocess


def run_bench_conv(argv, filt, env=None):
    """Runs bench_conv (argv: the command, e.g. ["env", "X=1", "build/bench_conv"]) under nice on the
    benchmarks matching filt; returns (its JSON context, {benchmark: (GFLOP/s, % of peak)})."""
    p = subprocess.run(["nice", "-n", "19", *argv, f"--benchmark_filter={filt}", "--benchmark_format=json"],
                       capture_output=True, text=True, env=env, check=True)
    j = json.loads(p.stdout)
    cells = {}
    for b in j["benchmarks"]:
        key = b["name"].split("/min_time")[0].split("/manual_time")[0]
        cells[key] = (b["GFLOPs"], b["peak_pct"])
    return j["context"], cells


def print_table(results, columns):
    """results: column -> benchmark -> [(GFLOP/s, % peak) per round]; one row per benchmark of the
    first column, each cell the medians of GFLOP/s and of % of peak (of different rounds, so they
    do not divide into each other)."""
    print("| convolution | pass | " + " | ".join(f"{c} GFLOP/s (% peak)" for c in columns) + " |")
    print("|---|---|" + "---|" * len(columns))
    for key in results[columns[0]]:
        conv, pass_ = key.rsplit("/", 1)
        cells = []
        for c in columns:
            v = results[c].get(key, [])
            cells.append(f"{statistics.median(g for g, _ in v):.1f} ({statistics.median(p for _, p in v):.1f})"
                         if v else "-")
        print(f"| {conv} | {pass_} | " + " | ".join(cells) + " |")
