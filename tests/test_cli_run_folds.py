#!/usr/bin/python3
"""`deepslide run` with `[split] folds = 3` (cross-validation) on a tiny pipeline (2 classes x 3
synthetic slides, 32-px windows, one short epoch per fold): split writes the folds, whose test
slides are disjoint and cover every slide; each fold runs train .. evaluate and report in
WORKDIR/fold<k>/ with a stamp of its own; crossval.json holds each fold's test metrics exactly as
its metrics.json has them and their mean, sample standard deviation, min and max (checked against
Python's statistics module); every fold's report shows the table. A second run skips every
stage; a fold's deleted metrics.json reruns that fold's evaluate alone (it writes the same file);
another bootstrap count reruns every evaluate, the summary and the reports; raising epochs resumes each fold's train from its own checkpoints. folds = 2 in the config and `split --folds 0` are errors (exit 2,
one line). Run by ctest (DEEPSLIDE set)."""
import csv
import json
import math
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, error_line, expect_stages, failures, run, tempdir  # noqa: E402

K = 3
KINDS = ["train", "predict", "search", "bundle", "visualize", "evaluate", "report"]
ALL = ["split", "crossval"] + [f"fold{k}/{s}" for k in range(K) for s in KINDS]

tmp = tempdir("ds_run_folds_")
wsi = f"{tmp}/wsi"
work = f"{tmp}/work"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "3", "--width", "1000", "--height", "800",
     "--seed", "5"])


def write_config(name, folds, epochs=1, bootstrap=10):
    path = f"{tmp}/{name}.toml"
    with open(path, "w") as f:
        f.write(f'workdir = "{work}"\n\n[common]\nall_wsi = "{wsi}"\npatch_size = 32\nlevel = 2\nthreads = 2\n\n'
                f"[split]\nfolds = {folds}\nseed = 1\n\n"
                f"[train]\nnum_train_per_class = 16\nepochs = {epochs}\nbatch_size = 16\nnorm_samples = 32\n"
                "checkpoint_minutes = 0\nseed = 1\n\n[predict]\noverlap = 1\n\n"
                '[visualize]\nmode = "dots"\nthumb_size = 96\n\n'
                f"[evaluate]\nbootstrap = {bootstrap}\n")
    return path


def test_slides(k):
    with open(f"{work}/fold{k}/labels_test.csv") as f:
        return [r["img"] for r in csv.DictReader(f)]


cfg = write_config("folds3", K)
p = run(["run", "--config", cfg])
expect_stages(p, {s: "ran" for s in ALL}, "first run")

# The folds: disjoint test sets covering all 6 slides; each fold's outputs in its own folder.
tests = [test_slides(k) for k in range(K)] if os.path.exists(f"{work}/fold{K - 1}/labels_test.csv") else []
check(sorted(sum(tests, [])) == sorted({s for t in tests for s in t}) and len(sum(tests, [])) == 6,
      f"test slides over folds: {tests}")
for k in range(K):
    for rel in ["best.safetensors", "preds_test/predict.json", "inference_val/aggregator.json", "bundle.safetensors",
                "inference_test/metrics.json", "report.html"]:
        check(os.path.exists(f"{work}/fold{k}/{rel}"), f"missing fold{k}/{rel}")
    check(os.path.exists(f"{work}/.stages/fold{k}/train.json"), f"no stamp for fold{k}/train")
check(not os.path.exists(f"{work}/best.safetensors"), "a model outside the folds")

# crossval.json against each fold's metrics.json and Python's statistics.
if os.path.exists(f"{work}/crossval.json"):
    cv = json.load(open(f"{work}/crossval.json"))
    check(cv["folds"] == [f"fold{k}" for k in range(K)], f"folds {cv['folds']}")
    metrics = [json.load(open(f"{work}/fold{k}/inference_test/metrics.json")) for k in range(K)]
    check(cv["slides"] == [m["slides"] for m in metrics], f"slides {cv['slides']}")
    for name in ["accuracy", "mean_class_accuracy", "macro_f1", "macro_auc"]:
        per_fold = [m[name] for m in metrics]
        got = cv["metrics"][name]
        check(got["values"] == per_fold, f"{name}: values {got['values']} != metrics.json {per_fold}")
        vals = [v for v in per_fold if v is not None]
        check(got["n"] == len(vals), f"{name}: n {got['n']}")
        if len(vals) >= 2:
            for key, want in [("mean", statistics.mean(vals)), ("sd", statistics.stdev(vals)), ("min", min(vals)),
                              ("max", max(vals))]:
                check(got[key] is not None and math.isclose(got[key], want, abs_tol=1e-12),
                      f"{name}: {key} {got[key]} != {want}")
    acc = cv["metrics"]["accuracy"]
    check(f"mean {acc['mean']:.4f}, sd {acc['sd']:.4f}" in p.stdout, f"no cross-validation line: {p.stdout[-800:]}")
    report = open(f"{work}/fold1/report.html").read() if os.path.exists(f"{work}/fold1/report.html") else ""
    check("Cross-validation (3 folds)" in report and f"{acc['mean']:.4f}" in report,
          "fold1's report has no cross-validation table with the mean accuracy")
else:
    check(False, "no crossval.json")

# Nothing changed: every stage skipped.
p = run(["run", "--config", cfg])
expect_stages(p, {s: "skipped" for s in ALL}, "second run")

# A fold's deleted metrics.json: that fold's evaluate reruns and writes the same file, so the
# summary and the reports, which read it, stay up to date; nothing else reruns.
metrics1 = f"{work}/fold1/inference_test/metrics.json"
before = open(metrics1, "rb").read() if os.path.exists(metrics1) else b""
if before:
    os.remove(metrics1)
p = run(["run", "--config", cfg])
want = {s: "skipped" for s in ALL}
want["fold1/evaluate"] = "ran"
expect_stages(p, want, "after deleting fold1's metrics.json")
check(os.path.exists(metrics1) and open(metrics1, "rb").read() == before, "evaluate wrote another metrics.json")
# Another [evaluate] bootstrap count: every fold's evaluate writes other intervals, so the summary
# and every report (they show the cross-validation) follow; nothing before evaluate reruns.
p = run(["run", "--config", write_config("bootstrap20", K, bootstrap=20)])
want = {s: "skipped" for s in ALL}
want.update({"crossval": "ran", **{f"fold{k}/{s}": "ran" for k in range(K) for s in ("evaluate", "report")}})
expect_stages(p, want, "[evaluate] bootstrap 10 -> 20")

# One more epoch (until train): each fold's train resumes from its own checkpoints.
p = run(["run", "--config", write_config("epochs2", K, epochs=2), "--until", "train"])
want = {s: "not run" for s in ALL}
want.update({"split": "skipped", **{f"fold{k}/train": "ran" for k in range(K)}})
expect_stages(p, want, "epochs 1 -> 2 until train")
for k in range(K):
    check(f"resuming from the last checkpoint in {work}/fold{k}/checkpoints" in p.stdout, f"fold{k}/train did not resume")

# Two folds leave nothing to train on; --folds 0 is not "no folds".
p = run(["run", "--config", write_config("folds2", 2)], expect=2)
line = error_line(p)
check("folds2.toml:" in line and "folds must be from 3" in line and p.stderr.count("\n") == 1,
      f"folds = 2: {p.stderr!r}")
p = run(["split", "--all-wsi", wsi, "--out", f"{tmp}/s0", "--folds", "0"], expect=2)
check("--folds must be at least 3" in error_line(p), f"split --folds 0: {error_line(p)}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("deepslide run with folds: ok")
