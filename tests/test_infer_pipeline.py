#!/usr/bin/python3
"""Stages 4-7 end to end on tiny synthetic slides, plus the aggregation and metrics restated in
numpy as the oracle:
- predict: one CSV per slide with x,y,prediction,confidence,prob_<class> (confidence = max prob,
  prediction = its class, windows on the overlap grid); a corrupt slide in the middle of the list
  is reported with its reason, the others are written, exit code 2; a rerun skips finished
  slides (files untouched) and --force redoes them; predict.json records the window geometry.
- search/evaluate on synthetic prediction CSVs (many slides, tie-heavy scores): every candidate
  CSV equals DeepSlide's rule / majority / mean probability restated here, the chosen aggregator
  is the first with the best mean class accuracy, and metrics.json matches a numpy restatement
  (confusion, accuracy, mean class accuracy, macro F1 with sklearn's conventions, one-vs-rest AUC
  by pairwise comparison with ties 1/2), and the window-level accuracy (every window against its
  slide's class).
- search/evaluate/visualize/report on the real predictions: outputs exist and have the documented
  structure; the report is one offline HTML file with embedded JPEG pictures and inline SVG;
  report --compare adds a table of other evaluations' accuracies (and prints it), and refuses a
  malformed spec or a folder without metrics.json.
Run by ctest (DEEPSLIDE set)."""
import csv
import json
import os
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, failures, out_name, run, tempdir  # noqa: E402


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.reader(f))


def write_labels(path, rows):
    with open(path, "w") as f:
        f.write("img,gt\n")
        for img, gt in rows:
            f.write(f"{img},{gt}\n")


tmp = tempdir("ds_infer_")

# ---------------------------------------------------------------- oracle part: synthetic CSVs
rng = np.random.default_rng(3)
classes = ["a", "b", "c"]
K = len(classes)
synth = f"{tmp}/synth_preds"
os.makedirs(synth)
val_rows, test_rows = [], []
slide_patches = {}
for i in range(48):
    gt = i % K
    n = int(rng.integers(0, 25)) if i % 11 else 0  # a few slides without patches
    logits = rng.normal(size=(n, K))
    logits[:, gt] += 0.8
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    probs = np.round(probs * 8) / 8  # coarse values: many ties in confidences and scores
    probs[:, 0] = 1 - probs[:, 1:].sum(1)
    probs = np.clip(probs, 0, 1)
    name = f"s{i:02d}"
    pred = probs.argmax(1)
    with open(f"{synth}/{out_name(f'{classes[gt]}/{name}.tif')}.csv", "w") as f:
        f.write("x,y,prediction,confidence," + ",".join("prob_" + c for c in classes) + "\n")
        for j in range(n):
            f.write(f"{j * 10},{j * 20},{classes[pred[j]]},{probs[j, pred[j]]:.6g}," +
                    ",".join(f"{v:.6g}" for v in probs[j]) + "\n")
    slide_patches[name] = (pred, probs[np.arange(n), pred], probs)
    (val_rows if i < 30 else test_rows).append((f"{classes[gt]}/{name}.tif", classes[gt]))
write_labels(f"{tmp}/val.csv", val_rows)
write_labels(f"{tmp}/test.csv", test_rows)


def deepslide_rule(name, t):
    pred, conf, _ = slide_patches[name]
    counts = np.array([np.sum((pred == k) & (conf > t[k])) for k in range(K)])
    pct = counts / counts.sum() if counts.sum() > 0 else np.zeros(K)
    return int(np.argmax(pct)), pct, counts  # np.argmax: first max, as Python's max over the dict


def mean_prob(name):
    probs = slide_patches[name][2]
    return probs.mean(0) if len(probs) else np.zeros(K)


def mca(gt, pred):
    gt, pred = np.array(gt), np.array(pred)
    return np.mean([np.mean(pred[gt == k] == k) for k in range(K) if np.any(gt == k)])


grid = [0.3, 0.5, 0.7]
run(["search", "--preds", synth, "--labels", f"{tmp}/val.csv", "--out", f"{tmp}/synth_search",
     "--thresholds", "0.7,0.3,0.5"])
agg = json.load(open(f"{tmp}/synth_search/aggregator.json"))
val_gt = [classes.index(g) for _, g in val_rows]
val_names = [os.path.splitext(os.path.basename(img))[0] for img, _ in val_rows]
expected_mca = {}
for t in grid:
    rows = read_csv(f"{tmp}/synth_search/candidates/shared_{t:g}.csv")
    check(rows[0] == ["img", "predicted"] + ["percent_" + c for c in classes] + ["count_" + c for c in classes],
          f"inference CSV header {rows[0]}")
    preds = []
    for (img, _), name, row in zip(val_rows, val_names, rows[1:]):
        p, pct, counts = deepslide_rule(name, [t] * K)
        preds.append(p)
        check(row[0] == img and row[1] == classes[p], f"shared {t} {name}: {row[:2]} vs {classes[p]}")
        check([int(v) for v in row[2 + K:]] == counts.tolist(), f"shared {t} {name}: counts {row[2 + K:]} vs {counts}")
        check(np.allclose([float(v) for v in row[2:2 + K]], pct, atol=1e-5), f"shared {t} {name}: percents")
    expected_mca[f"shared_{t:g}"] = mca(val_gt, preds)
for method, fn in [("majority", None), ("mean_probability", mean_prob)]:
    rows = read_csv(f"{tmp}/synth_search/candidates/{method}.csv")
    preds = []
    for name, row in zip(val_names, rows[1:]):
        if fn is None:
            pred = slide_patches[name][0]
            votes = np.bincount(pred, minlength=K) if len(pred) else np.zeros(K)
            p = int(np.argmax(votes))
        else:
            p = int(np.argmax(mean_prob(name)))
        preds.append(p)
        check(row[1] == classes[p], f"{method} {name}: {row[1]} vs {classes[p]}")
    expected_mca[method] = mca(val_gt, preds)
cands = {c["name"]: c for c in agg["candidates"]}
for name, v in expected_mca.items():
    check(abs(cands[name]["mean_class_accuracy"] - v) < 1e-9, f"{name}: mca {cands[name]['mean_class_accuracy']} vs {v}")
order = [c["name"] for c in agg["candidates"]]
check(order[:3] == ["shared_0.3", "shared_0.5", "shared_0.7"], f"candidate order {order}")
best = max(c["mean_class_accuracy"] for c in agg["candidates"])
first_best = next(c["name"] for c in agg["candidates"] if c["mean_class_accuracy"] == best)
check(agg["name"] == first_best, f"chose {agg['name']}, first best is {first_best}")
check(cands["per_class"]["mean_class_accuracy"] >= max(expected_mca[f"shared_{t:g}"] for t in grid) - 1e-12,
      "per-class search is never worse than the best shared threshold")
check(agg["logistic_offered"] is True and "logistic" in cands, "logistic offered with 10 validation slides per class")
lr = read_csv(f"{tmp}/synth_search/candidates/logistic.csv")
check(len(lr) == len(val_rows) + 1 and all(abs(sum(float(v) for v in r[2:2 + K]) - 1) < 1e-4 for r in lr[1:]),
      "logistic candidate CSV holds probabilities")
json.dump(cands["logistic"], open(f"{tmp}/logistic.json", "w"))
run(["evaluate", "--preds", synth, "--labels", f"{tmp}/test.csv", "--aggregator", f"{tmp}/logistic.json",
     "--out", f"{tmp}/synth_eval_lr", "--bootstrap", "50"])
W, bias = np.array(cands["logistic"]["weights"]), np.array(cands["logistic"]["bias"])
for row in read_csv(f"{tmp}/synth_eval_lr/slides.csv")[1:]:
    name = os.path.splitext(os.path.basename(row[0]))[0]
    pr = slide_patches[name][0]
    feats = np.concatenate([np.bincount(pr, minlength=K) / max(len(pr), 1), mean_prob(name)])
    z = W @ feats + bias
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    check(np.allclose([float(v) for v in row[3:3 + K]], want, atol=1e-5), f"logistic scores {name}: {row} vs {want}")
write_labels(f"{tmp}/val_small.csv", val_rows[:27])  # 9 slides per class: not enough
run(["search", "--preds", synth, "--labels", f"{tmp}/val_small.csv", "--out", f"{tmp}/synth_search_small"])
small = json.load(open(f"{tmp}/synth_search_small/aggregator.json"))
check(small["logistic_offered"] is False and "logistic" not in [c["name"] for c in small["candidates"]],
      "no logistic regression with 9 validation slides per class")

# Evaluate with a fixed shared-threshold aggregator and restate the metrics.
fixed = {"method": "threshold", "classes": classes, "thresholds": {c: 0.5 for c in classes}, "name": "shared_0.5"}
json.dump(fixed, open(f"{tmp}/fixed.json", "w"))
run(["evaluate", "--preds", synth, "--labels", f"{tmp}/test.csv", "--aggregator", f"{tmp}/fixed.json",
     "--out", f"{tmp}/synth_eval", "--bootstrap", "200", "--seed", "9"])
m = json.load(open(f"{tmp}/synth_eval/metrics.json"))
gt = np.array([classes.index(g) for _, g in test_rows])
names = [os.path.splitext(os.path.basename(img))[0] for img, _ in test_rows]
dec = [deepslide_rule(n, [0.5] * K) for n in names]
pred = np.array([d[0] for d in dec])
scores = np.array([d[1] for d in dec])
conf = np.zeros((K, K), int)
for g, p in zip(gt, pred):
    conf[g, p] += 1
check(m["confusion"] == conf.tolist(), f"confusion {m['confusion']} vs {conf.tolist()}")
check(abs(m["accuracy"] - np.mean(gt == pred)) < 1e-12, "accuracy")
check(abs(m["mean_class_accuracy"] - mca(gt, pred)) < 1e-12, "mean class accuracy")
f1s = []
for k in range(K):
    tp = conf[k, k]
    prec = tp / conf[:, k].sum() if conf[:, k].sum() else 0.0
    rec = tp / conf[k].sum() if conf[k].sum() else 0.0
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    pc = m["per_class"][classes[k]]
    check(abs(pc["precision"] - prec) < 1e-12 and abs(pc["recall"] - rec) < 1e-12 and abs(pc["f1"] - f1) < 1e-12,
          f"class {classes[k]}: {pc} vs p {prec} r {rec} f1 {f1}")
    if conf[k].sum() or conf[:, k].sum():
        f1s.append(f1)
check(abs(m["macro_f1"] - np.mean(f1s)) < 1e-12, f"macro F1 {m['macro_f1']} vs {np.mean(f1s)}")
aucs = []
for k in range(K):
    pos, neg = scores[gt == k, k], scores[gt != k, k]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    auc = wins / (len(pos) * len(neg))
    aucs.append(auc)
    check(abs(m["per_class"][classes[k]]["auc"] - auc) < 1e-9, f"AUC {classes[k]}: {m['per_class'][classes[k]]['auc']} vs {auc}")
check(abs(m["macro_auc"] - np.mean(aucs)) < 1e-9, "macro AUC")
# Window level: every window of a slide against its slide's class.
n_windows = sum(len(slide_patches[n][0]) for n in names)
n_right = sum(int(np.sum(slide_patches[n][0] == g)) for n, g in zip(names, gt))
check(m["windows"] == n_windows and abs(m["window_accuracy"] - n_right / n_windows) < 1e-12,
      f"windows {m['windows']} {m['window_accuracy']} vs {n_windows} {n_right / n_windows}")
check(0 < n_right < n_windows, "the example has windows right and wrong")
check(len(np.unique(scores)) < len(scores) * K, "the example has tied scores")
for key in ["accuracy", "mean_class_accuracy", "macro_f1", "macro_auc", "confusion", "per_class", "ci95"]:
    check(key in m, f"metrics.json lacks {key}")
lo, hi = m["ci95"]["accuracy"]
check(lo <= m["accuracy"] <= hi and 0 <= lo and hi <= 1, f"ci95 accuracy {lo} {hi}")
run(["evaluate", "--preds", synth, "--labels", f"{tmp}/test.csv", "--aggregator", f"{tmp}/fixed.json",
     "--out", f"{tmp}/synth_eval2", "--bootstrap", "200", "--seed", "9"])
check(json.load(open(f"{tmp}/synth_eval2/metrics.json"))["ci95"] == m["ci95"], "bootstrap is seeded")
slides = read_csv(f"{tmp}/synth_eval/slides.csv")
check(slides[0][:3] == ["img", "gt", "predicted"] and len(slides) == len(test_rows) + 1, f"slides.csv {slides[0]}")
conf_csv = read_csv(f"{tmp}/synth_eval/confusion.csv")
check([[int(v) for v in r[1:]] for r in conf_csv[1:]] == conf.tolist(), "confusion.csv")

# Bad input: one line, exit 2.
p = run(["evaluate", "--preds", synth, "--labels", f"{tmp}/test.csv", "--aggregator", f"{tmp}/nope.json",
         "--out", f"{tmp}/x"], expect=2)
check(p.stderr.count("\n") == 1 and "nope.json" in p.stderr, f"one-line error: {p.stderr!r}")
write_labels(f"{tmp}/missing.csv", [("a/zz.tif", "a")])
p = run(["search", "--preds", synth, "--labels", f"{tmp}/missing.csv", "--out", f"{tmp}/x"], expect=2)
check("no prediction CSV" in p.stderr, p.stderr)

# ---------------------------------------------------------------- real slides through the model
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "3", "--width", "600", "--height", "500",
     "--seed", "4"])
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/labels", "--val-per-class", "1", "--test-per-class", "1"])
cls = sorted(os.listdir(wsi))
run(["init-model", "--arch", "resnet18", "--classes", ",".join(cls), "--patch-size", "32", "--out", f"{tmp}/m.safetensors"])
val = read_csv(f"{tmp}/labels/labels_val.csv")[1:]
test = read_csv(f"{tmp}/labels/labels_test.csv")[1:]
with open(f"{wsi}/{cls[0]}/broken.tif", "wb") as f:
    f.write(b"II*\x00" + b"\x00" * 20)
Image.new("RGB", (200, 160), (250, 250, 250)).save(f"{wsi}/{cls[1]}/blank.png")
rows = [tuple(val[0]), (f"{cls[0]}/broken.tif", cls[0])] + [tuple(r) for r in val[1:] + test] + \
       [(f"{cls[1]}/blank.png", cls[1])]
write_labels(f"{tmp}/all.csv", rows)
preds = f"{tmp}/run/preds"
pargs = ["predict", "--model", f"{tmp}/m.safetensors", "--all-wsi", wsi, "--labels", f"{tmp}/all.csv", "--out", preds,
         "--overlap", "1", "--batch-size", "16", "--threads", "2"]
p = run(pargs, expect=2)
check("broken.tif" in p.stdout and "failed" in p.stdout, f"failure listed: {p.stdout}")
check("patches/s" in p.stdout, "patches/s reported")
check(not os.path.exists(f"{preds}/{out_name(cls[0] + '/broken.tif')}.csv"), "no CSV for the broken slide")
check("no tissue windows" in p.stdout and "blank.png" in p.stdout, f"blank slide listed: {p.stdout}")
blank_csv = f"{preds}/{out_name(cls[1] + '/blank.png')}.csv"
blank = read_csv(blank_csv) if os.path.exists(blank_csv) else []
check(len(blank) == 1 and blank[0][:4] == ["x", "y", "prediction", "confidence"], f"blank slide CSV {blank}")
good = [r for r in rows if "broken" not in r[0]]
meta = json.load(open(f"{preds}/predict.json"))
for img, _ in good:
    stem = out_name(img)
    path = f"{preds}/{stem}.csv"
    check(os.path.exists(path), f"{path} written after the failure")
    if not os.path.exists(path):
        continue
    r = read_csv(path)
    check(r[0] == ["x", "y", "prediction", "confidence"] + ["prob_" + c for c in cls], f"header {r[0]}")
    side = meta["slides"][stem]["window_side"]
    check(side == 32, f"window side {side}")
    check(len(r) - 1 == meta["slides"][stem]["windows"], "row count = windows")
    for row in r[1:]:
        x, y, probs = int(row[0]), int(row[1]), np.array([float(v) for v in row[4:]])
        check(x % side == 0 and y % side == 0, f"{stem}: window ({x},{y}) off the overlap-1 grid")
        check(row[2] == cls[int(np.argmax(probs))] and abs(float(row[3]) - probs.max()) < 1e-6, f"{stem}: {row}")
        check(abs(probs.sum() - 1) < 1e-4, f"{stem}: probabilities sum {probs.sum()}")
mtimes = {f: os.path.getmtime(f"{preds}/{f}") for f in os.listdir(preds) if f.endswith(".csv")}
p = run(pargs, expect=2)
check(p.stderr.count("skipped") == len(good), f"rerun skips finished slides: {p.stderr}")
check(all(os.path.getmtime(f"{preds}/{f}") == t for f, t in mtimes.items()), "skipped CSVs untouched")
write_labels(f"{tmp}/good.csv", good[:1])
run(pargs[:6] + [f"{tmp}/good.csv"] + pargs[7:] + ["--force"])
stem0 = out_name(good[0][0])
check(os.path.getmtime(f"{preds}/{stem0}.csv") != mtimes[f"{stem0}.csv"], "--force rewrites")

p = run(pargs + ["--patch-size", "64"], expect=2)
check("patch size" in p.stderr and p.stderr.count("\n") == 1, f"--patch-size against the model: {p.stderr!r}")

run_dir = f"{tmp}/run"
run(["search", "--preds", preds, "--labels", f"{tmp}/labels/labels_val.csv", "--out", f"{run_dir}/search"])
a = json.load(open(f"{run_dir}/search/aggregator.json"))
check(a["method"] in ("threshold", "majority", "mean_probability") and a["classes"] == cls, f"aggregator {a}")
run(["evaluate", "--preds", preds, "--labels", f"{tmp}/labels/labels_test.csv", "--aggregator",
     f"{run_dir}/search/aggregator.json", "--out", f"{run_dir}/eval"])
m = json.load(open(f"{run_dir}/eval/metrics.json"))
check(sum(map(sum, m["confusion"])) == len(test), "confusion counts the test slides")
run(["visualize", "--all-wsi", wsi, "--labels", f"{tmp}/labels/labels_test.csv", "--preds", preds, "--out",
     f"{run_dir}/vis", "--gradcam", "1", "--model", f"{tmp}/m.safetensors", "--threads", "2"])
vis = json.load(open(f"{run_dir}/vis/visualize.json"))
for img, _ in test:
    stem = out_name(img)
    files = vis["slides"][stem]["files"]
    expect = {f"{stem}_thumb.png", f"{stem}_dots.png"} | {f"{stem}_heatmap_{c}.png" for c in cls} | \
             {f"{stem}_gradcam_{c}_0.png" for c in cls}
    check(set(files) == expect, f"{stem} pictures {files}")
    thumb = np.asarray(Image.open(f"{run_dir}/vis/{stem}_thumb.png").convert("RGB"))
    dots = np.asarray(Image.open(f"{run_dir}/vis/{stem}_dots.png").convert("RGB"))
    check(dots.shape[0] > thumb.shape[0] and dots.shape[1] >= thumb.shape[1], "legend below the dots picture")
    # DeepSlide's colours: class 0 red (255,0,0), class 1 white; every predicted class shows up.
    r = read_csv(f"{preds}/{stem}.csv")[1:]
    top = dots[:thumb.shape[0], :thumb.shape[1]]
    if any(row[2] == cls[0] for row in r):
        check(np.any(np.all(top == [255, 0, 0], axis=2)), f"{stem}: red dots for {cls[0]}")
    heat = np.asarray(Image.open(f"{run_dir}/vis/{stem}_heatmap_{cls[0]}.png").convert("RGB"))
    check(np.any(heat[:thumb.shape[0], :thumb.shape[1]] != thumb), f"{stem}: heatmap differs from the thumbnail")
with open(f"{run_dir}/log.csv", "w") as f:
    f.write("epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds\n1,0.9,0.6,0.8,0.62,0.001,10\n"
            "2,0.7,0.7,0.75,0.66,0.00085,10\n3,0.5,0.8,0.7,0.7,0.0007225,10\n")
run(["report", "--run", run_dir, "--out", f"{run_dir}/report.html"])
html = open(f"{run_dir}/report.html").read()
check(html.startswith("<!DOCTYPE html>") and html.rstrip().endswith("</html>"), "complete HTML")
check(html.count("data:image/jpeg;base64,") == sum(len(v["files"]) for v in vis["slides"].values()), "images embedded")
check(html.count("<svg") == 3 and "polyline" in html, "inline SVG: ROC, loss and accuracy curves")
check("val_acc" in html and "train_loss" in html, "training curves labelled from log.csv")
check("src=\"http" not in html and "href=\"http" not in html and "<script" not in html, "nothing external")
for word in ["mean class accuracy", "Confusion matrix", "ROC curves", "Slides", "Settings", "window accuracy"]:
    check(word in html, f"report section {word}")
check("Comparison" not in html, "no comparison table without --compare")

# --compare: other evaluations side by side, in the HTML and printed; each row's figures are its
# metrics.json's (the synthetic evaluation above and the run's own).
p = run(["report", "--run", run_dir, "--out", f"{run_dir}/report2.html", "--compare-title", "Two <sets>",
         "--compare", f"synthetic=slides={tmp}/synth_eval", "--compare", f"real={run_dir}/eval"])
html = open(f"{run_dir}/report2.html").read()
real = json.load(open(f"{run_dir}/eval/metrics.json"))
check("<h2>Two &lt;sets&gt;</h2>" in html, "comparison heading, escaped")
synthetic = json.load(open(f"{tmp}/synth_eval/metrics.json"))
for label, mj in (("synthetic=slides", synthetic), ("real", real)):
    cells = f"<td class=\"l\">{label}</td><td>{mj['slides']}</td><td>{mj['accuracy']:.4f}</td>" \
            f"<td>{mj['windows']}</td><td>{mj['window_accuracy']:.4f}</td>"
    check(cells in html, f"comparison row {label}: {cells}")
    line = f"  {label}: slide accuracy {mj['accuracy']:.4f} ({mj['slides']} slides), window accuracy " \
           f"{mj['window_accuracy']:.4f} ({mj['windows']} windows)"
    check(line in p.stdout.splitlines(), f"printed row {label}: {p.stdout!r}")
# A metrics.json whose window figures make no sense is refused, not shown as "n/a".
bad_evals = []
for name, key, value in (("huge", "windows", 10**30), ("neg", "windows", -5), ("acc", "window_accuracy", 1.5)):
    os.makedirs(f"{tmp}/bad_{name}", exist_ok=True)
    with open(f"{tmp}/bad_{name}/metrics.json", "w") as f:
        json.dump({**real, key: value}, f)
    bad_evals.append((f"x={tmp}/bad_{name}", f"{key} must be"))
for bad, why in [("nolabel", "expected LABEL=FOLDER"), (f"x={tmp}/nowhere", "metrics.json")] + bad_evals:
    p = run(["report", "--run", run_dir, "--out", f"{run_dir}/report3.html", "--compare", bad], expect=2)
    check(why in p.stderr and p.stderr.count("\n") == 1, f"--compare {bad}: {p.stderr!r}")
    check(not os.path.exists(f"{run_dir}/report3.html"), f"--compare {bad}: no report written")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
