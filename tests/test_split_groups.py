#!/usr/bin/python3
"""Patient-level splits and cross-validation folds: `split --groups` never puts one patient in
two of train/val/test; `split --folds K` writes fold<k>/labels_{train,val,test}.csv whose test
sets partition the slides, stratified by class (per class, fold sizes differ by at most the
largest patient), grouped by patient; bad groups CSVs exit 2 with one line naming file and line."""
import csv
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, error_line, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_groups_")
wsi = f"{tmp}/wsi"
os.makedirs(wsi)
# Empty files are enough: split lists slides, it does not open them.
classes = ["a", "b"]
slides = []
for c in classes:
    os.makedirs(f"{wsi}/{c}")
    for i in range(9):
        open(f"{wsi}/{c}/{c}_{i:02d}.tif", "wb").close()
        slides.append(f"{c}/{c}_{i:02d}.tif")
# Patients of 1-3 slides, one with slides of both classes; names by stem, file and class/file.
patient = {}
for c in classes:
    for i in range(9):
        patient[f"{c}/{c}_{i:02d}.tif"] = f"{c}P{i // 3 if i < 6 else i}"
patient["b/b_08.tif"] = "aP0"
groups = f"{tmp}/groups.csv"
with open(groups, "w") as f:
    f.write("slide,patient\n")
    for k, (img, p) in enumerate(sorted(patient.items())):
        name = [img, os.path.basename(img), os.path.splitext(os.path.basename(img))[0]][k % 3]
        f.write(f"{name},{p}\n")


def read(path):
    with open(path) as f:
        return [r["img"] for r in csv.DictReader(f)]


for seed in [[], ["--seed", "4"]]:
    out = f"{tmp}/split{len(seed)}"
    run(["split", "--all-wsi", wsi, "--out", out, "--groups", groups, "--val-per-class", "2", "--test-per-class", "2"]
        + seed)
    sets = {s: read(f"{out}/labels_{s}.csv") for s in ["train", "val", "test"]} if os.path.exists(f"{out}/labels_test.csv") else {}
    check(sorted(sum(sets.values(), [])) == sorted(slides), "grouped split does not hold every slide once")
    for s, imgs in sets.items():
        for t, other in sets.items():
            if s < t:
                shared = {patient[i] for i in imgs} & {patient[i] for i in other}
                check(not shared, f"patients {shared} in both {s} and {t}")
        if s != "train":
            for c in classes:
                check(sum(i.startswith(c + "/") for i in imgs) >= 2, f"{s} has fewer than 2 slides of {c}")

K = 3
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/folds", "--groups", groups, "--folds", str(K), "--seed", "1"])
tests = []
for k in range(K):
    d = f"{tmp}/folds/fold{k}"
    sets = {s: read(f"{d}/labels_{s}.csv") for s in ["train", "val", "test"]} if os.path.exists(f"{d}/labels_test.csv") else {}
    check(len(sets) == 3 and sorted(sum(sets.values(), [])) == sorted(slides), f"fold{k} does not hold every slide once")
    for s, imgs in sets.items():
        for t, other in sets.items():
            if s < t:
                check(not ({patient[i] for i in imgs} & {patient[i] for i in other}), f"fold{k}: a patient in {s} and {t}")
    tests.append(sets.get("test", []))
check(sorted(sum(tests, [])) == sorted(slides), "the folds' test sets do not partition the slides")
for c in classes:
    n = [sum(i.startswith(c + "/") for i in t) for t in tests]
    check(max(n) - min(n) <= 3, f"class {c} over folds {n}: not stratified")

# Without groups: every slide its own patient, folds stratified exactly.
run(["split", "--all-wsi", wsi, "--out", f"{tmp}/folds2", "--folds", "3"])
for c in classes:
    n = [sum(i.startswith(c + "/") for i in read(f"{tmp}/folds2/fold{k}/labels_test.csv")) for k in range(3)]
    check(n == [3, 3, 3], f"ungrouped folds of {c}: {n}")

# Bad groups CSVs.
bad = {
    "unknown": ("slide,patient\na_00,p1\nzz_99,p2\n", "line 3"),
    "two": ("slide,patient\na_00,p1\na/a_00.tif,p2\n", "line 3"),
    "header": ("img,patient\na_00,p1\n", "header"),
}
for name, (text, needle) in bad.items():
    path = f"{tmp}/bad_{name}.csv"
    with open(path, "w") as f:
        f.write(text)
    for extra in [[], ["--folds", "3"]]:
        p = run(["split", "--all-wsi", wsi, "--out", f"{tmp}/b", "--groups", path] + extra, 2)
        line = error_line(p)
        check(path in line and needle in line and len(p.stderr.strip().splitlines()) == 1, f"{name}: {p.stderr.strip()}")
p = run(["split", "--all-wsi", wsi, "--out", f"{tmp}/b", "--folds", "20"], 2)
check("fewer than the 20 folds" in error_line(p), error_line(p))

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("split groups: ok")
