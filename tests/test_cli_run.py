#!/usr/bin/python3
"""`deepslide run` on a tiny pipeline (2 classes x 4 synthetic slides, 32-px windows, one short
epoch): every stage runs and leaves its outputs and a stamp; a second run skips every stage; a
changed [predict] key reruns predict and the stages after it but not split or train (their files
untouched); a stage that reruns and writes the same files leaves the later ones skipped (a deleted
aggregator.json; a replaced test slide: split reruns, train does not, predict redoes that slide
alone); a file a config key names is an input (an annotation folder); --from/--until restrict the range, --from needs the earlier stages complete; a
deleted output of a completed stage makes that stage rerun; raising [train] epochs resumes from
the last checkpoint; a bad config (unknown key or table, wrong type, key the run sets itself,
missing slide folder, TOML syntax) exits 2 with one line naming the file and the line; a file in
the workdir that the run did not write is not replaced; stamps compare contents: a label file
replaced by `cp -p` of one with the same size and mtime makes its stage stale, and so does
another deepslide binary (a copy with one byte appended), and so do other convolution algorithms
(`deepslide --conv-algo direct run`, which every stage's command line carries); a stamp of
another shape counts as none.
Run by ctest (DEEPSLIDE set)."""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, expect_stages, failures, run, tempdir  # noqa: E402

STAGES = ["split", "train", "predict", "search", "bundle", "visualize", "evaluate", "report"]

tmp = tempdir("ds_run_")
wsi = f"{tmp}/wsi"
work = f"{tmp}/work"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "4", "--width", "1000", "--height", "800",
     "--seed", "3"])

BASE = {
    "common": {"all_wsi": f'"{wsi}"', "patch_size": "32", "level": "2", "threads": "2"},
    "split": {"val_per_class": "1", "test_per_class": "1"},
    "train": {"num_train_per_class": "16", "epochs": "1", "batch_size": "16", "norm_samples": "32",
              "checkpoint_minutes": "0", "seed": "1"},
    "predict": {"overlap": "1"},
    "visualize": {"mode": '"dots"', "thumb_size": "128"},
    "evaluate": {"bootstrap": "20"},
}


def write_config(name, tables, top=""):
    path = f"{tmp}/{name}.toml"
    with open(path, "w") as f:
        f.write(f'# test config\nworkdir = "{work}"\n{top}')
        for t, keys in tables.items():
            f.write(f"\n[{t}]\n")
            for k, v in keys.items():
                f.write(f"{k} = {v}\n")
    return path


def with_change(table, key, value, base=None):
    tables = {t: dict(k) for t, k in (base or BASE).items()}
    tables.setdefault(table, {})[key] = value
    return tables


def expect_states(p, want, what):
    expect_stages(p, want, what)


def mtime(rel):
    return os.stat(f"{work}/{rel}").st_mtime_ns


cfg = write_config("base", BASE)
ALL_RAN = {s: "ran" for s in STAGES}
ALL_SKIPPED = {s: "skipped" for s in STAGES}

# 1. Everything runs; outputs and stamps exist; summary with accuracy and report path.
p = run(["run", "--config", cfg])
expect_states(p, ALL_RAN, "first run")
for rel in ["labels_train.csv", "labels_val.csv", "labels_test.csv", "best.safetensors", "log.csv", "checkpoints",
            "preds_val/predict.json", "preds_test/predict.json", "inference_val/aggregator.json",
            "bundle.safetensors", "vis_test/visualize.json", "inference_test/metrics.json", "report.html"]:
    check(os.path.exists(f"{work}/{rel}"), f"missing output {rel}")
for s in STAGES:
    path = f"{work}/.stages/{s}.json"
    check(os.path.exists(path), f"missing stamp {path}")
    check(not os.path.exists(f"{work}/.stages/{s}.attempt.json"), f"attempt record of {s} left after success")
if os.path.exists(f"{work}/.stages/train.json"):
    st = json.load(open(f"{work}/.stages/train.json"))
    check(st["stage"] == "train" and st["commands"][0][0] == "train" and "--epochs" in st["commands"][0],
          f"train stamp commands {st.get('commands')}")
    check("$WORKDIR/labels_train.csv" in st["inputs"] and "sha256" in st["inputs"]["$WORKDIR/labels_train.csv"],
          f"train stamp inputs {st.get('inputs')}")
    check("--threads" not in st["commands"][0], "speed-only --threads is part of the fingerprint")
m = re.search(r"slide-level test accuracy: ([0-9.]+) \((\d+) slides", p.stdout)
check(m is not None and m.group(2) == "2", f"no accuracy line: {p.stdout[-600:]}")
check(f"report: {work}/report.html" in p.stdout, "no report path in the summary")
check("$ deepslide train " in p.stdout, "the stage command lines are not printed")
check(f"model bundle: {work}/bundle.safetensors" in p.stdout, "no bundle path in the summary")
if os.path.exists(f"{work}/report.html"):
    check(f"{work}/bundle.safetensors" in open(f"{work}/report.html").read(), "the report does not name the bundle")
# report --run on the workdir alone finds run's folders (inference_test/, inference_val/, preds_test/, vis_test/).
p = run(["report", "--run", work, "--out", f"{tmp}/by_hand.html"])
if os.path.exists(f"{tmp}/by_hand.html") and os.path.exists(f"{work}/report.html"):
    strip = lambda t: re.sub(r"generated [0-9: -]+UTC", "", t)
    check(strip(open(f"{tmp}/by_hand.html").read()) == strip(open(f"{work}/report.html").read()),
          "report --run WORKDIR differs from the report run wrote")
else:
    check(False, "report --run WORKDIR wrote nothing")
p = run(["diagnose", "--bundle", f"{work}/bundle.safetensors", "--out", f"{tmp}/dx", wsi, "--threads", "2"])
check(os.path.exists(f"{tmp}/dx/diagnoses.csv"), "diagnose with the run's bundle")

# 2. Nothing changed: every stage skipped.
labels_t, model_t = mtime("labels_train.csv"), mtime("best.safetensors")
p = run(["run", "--config", cfg])
expect_states(p, ALL_SKIPPED, "second run")
check("skipped (up to date)" in p.stdout, "no 'skipped (up to date)'")

# 3. A [predict] change reruns predict and everything after it, not split or train.
OVERLAP = with_change("predict", "overlap", "1.5")
cfg2 = write_config("overlap", OVERLAP)
preds_t = mtime("preds_val/predict.json")
p = run(["run", "--config", cfg2])
expect_states(p, {**{s: "skipped" for s in STAGES[:2]}, **{s: "ran" for s in STAGES[2:]}}, "changed [predict]")
check("settings changed: --overlap 1 -> 1.5" in p.stdout, f"no reason given: {p.stdout[:800]}")
check(mtime("labels_train.csv") == labels_t and mtime("best.safetensors") == model_t, "split/train outputs rewritten")
check(mtime("preds_val/predict.json") != preds_t, "predict outputs not rewritten")
# A speed-only key ([predict] readers) changes nothing.
p = run(["run", "--config", write_config("readers", with_change("predict", "readers", "2", OVERLAP))])
expect_states(p, ALL_SKIPPED, "speed-only key")
# [report] compare: the compared evaluation is an input of report, so editing it redoes the report.
os.makedirs(f"{tmp}/other_eval", exist_ok=True)
shutil.copy(f"{work}/inference_test/metrics.json", f"{tmp}/other_eval/metrics.json")
cfg_cmp = write_config("compare", with_change("report", "compare", f'["other={tmp}/other_eval"]', OVERLAP))
ONLY_REPORT = {**{s: "skipped" for s in STAGES[:-1]}, "report": "ran"}
expect_states(run(["run", "--config", cfg_cmp]), ONLY_REPORT, "[report] compare added")
expect_states(run(["run", "--config", cfg_cmp]), ALL_SKIPPED, "[report] compare unchanged")
other = json.load(open(f"{tmp}/other_eval/metrics.json"))
json.dump({**other, "accuracy": 0.25}, open(f"{tmp}/other_eval/metrics.json", "w"))
p = run(["run", "--config", cfg_cmp])
expect_states(p, ONLY_REPORT, "compared evaluation edited")
check("<td>0.2500</td>" in open(f"{work}/report.html").read(), "report shows the edited evaluation")
expect_states(run(["run", "--config", cfg2]), ONLY_REPORT, "[report] compare removed")

# 4. --from/--until (with --force, so the stages in range run although up to date).
p = run(["run", "--config", cfg2, "--from", "search", "--until", "evaluate", "--force"])
expect_states(p, {"split": "not run", "train": "not run", "predict": "not run", "search": "ran", "bundle": "ran",
                  "visualize": "ran", "evaluate": "ran", "report": "not run"}, "--from search --until evaluate")
# The forced stages rewrote their outputs with the same bytes: report's inputs are unchanged
# (stamps compare contents), so report stays up to date.
p = run(["run", "--config", cfg2])
expect_states(p, ALL_SKIPPED, "after --until evaluate")
fresh = f"{tmp}/fresh"
p = run(["run", "--config", cfg2, "--workdir", fresh, "--from", "predict"], expect=2)
check("stage split has not completed" in p.stderr and p.stderr.count("\n") == 1,
      f"--from predict on a fresh workdir: {p.stderr!r}")
p = run(["run", "--config", cfg2, "--workdir", fresh, "--until", "split"])
expect_states(p, {"split": "ran", **{s: "not run" for s in STAGES[1:]}}, "--until split")
check(os.path.exists(f"{fresh}/labels_val.csv") and not os.path.exists(f"{fresh}/best.safetensors"),
      "--until split ran more than split")
run(["run", "--config", cfg2, "--from", "nope"], expect=2)

# 5. A deleted output of a completed stage: that stage reruns. It writes the same files again, so
# the stages that read them stay up to date (a stage that ran does not make the later ones run).
agg_before = open(f"{work}/inference_val/aggregator.json", "rb").read()
os.remove(f"{work}/inference_val/aggregator.json")
p = run(["run", "--config", cfg2])
expect_states(p, {**ALL_SKIPPED, "search": "ran"}, "deleted aggregator.json")
check("output missing: " in p.stdout, "no reason for the rerun after a deleted output")
check(open(f"{work}/inference_val/aggregator.json", "rb").read() == agg_before, "search wrote another aggregator")

# 6. More epochs: train resumes from its last checkpoint instead of starting over.
p = run(["run", "--config", write_config("epochs", with_change("train", "epochs", "2", OVERLAP)), "--until", "train"])
expect_states(p, {"split": "skipped", "train": "ran", **{s: "not run" for s in STAGES[2:]}}, "epochs 1 -> 2")
check("--resume" in p.stdout and "resumed" in p.stdout, f"train did not resume: {p.stdout[-800:]}")
log = open(f"{work}/log.csv").read().splitlines()
check([r.split(",")[0] for r in log[1:]] == ["1", "2"], f"log.csv after resuming: {log}")

# 7. Bad configs: exit 2, one line naming the file (and the line where there is one).
bad = [
    ("unknown_key", with_change("train", "epoch", "3"), ":", "unknown key 'epoch' in [train]"),
    ("unknown_table", {**BASE, "trian": {"epochs": "3"}}, ":", "unknown table [trian]"),
    ("wrong_type", with_change("train", "epochs", '"four"'), ":", "[train] epochs must be an integer"),
    ("managed", with_change("predict", "out", '"x"'), ":", "set by deepslide run itself"),
    ("no_slides", with_change("common", "all_wsi", f'"{tmp}/nowhere"'), ":", "no such folder"),
    ("exclusive", with_change("common", "mpp", "0.5"), "", "--level excludes --mpp"),
]
for name, tables, has_line, words in bad:
    path = write_config(name, tables)
    p = run(["run", "--config", path], expect=2)
    line = p.stderr.strip()
    check(p.stderr.count("\n") == 1 and line.startswith(f"deepslide: error: {path}{has_line}") and words in line,
          f"bad config {name}: {p.stderr!r}")
path = f"{tmp}/syntax.toml"
open(path, "w").write('[common]\nall_wsi = "x"\n[train\n')
p = run(["run", "--config", path], expect=2)
check(p.stderr.startswith(f"deepslide: error: {path}:3: TOML syntax"), f"syntax error: {p.stderr!r}")
p = run(["run", "--config", f"{tmp}/missing.toml"], expect=2)
check(f"{tmp}/missing.toml" in p.stderr, f"missing config: {p.stderr!r}")
# Outputs the run did not write are never replaced: a hand-made labels CSV in a new workdir.
foreign = f"{tmp}/foreign"
os.makedirs(foreign)
open(f"{foreign}/labels_val.csv", "w").write("img,gt\n")
p = run(["run", "--config", cfg, "--workdir", foreign], expect=2)
check(p.stderr.startswith(f"deepslide: error: {foreign}/labels_val.csv: exists, but ") and
      open(f"{foreign}/labels_val.csv").read() == "img,gt\n", f"foreign output: {p.stderr!r}")
# The bad configs touched nothing: everything is still up to date.
p = run(["run", "--config", write_config("epochs2", with_change("train", "epochs", "2", OVERLAP))])
expect_states(p, {**{s: "skipped" for s in STAGES[:2]}, **{s: "ran" for s in STAGES[2:]}}, "after the bad configs")
cfg3 = write_config("epochs2", with_change("train", "epochs", "2", OVERLAP))
check(os.path.exists(f"{work}/.stages/hashes.json"), "no hash cache in .stages")

# 8. Content, not size and mtime: a label file replaced by `cp -p` of one with the same size and
# mtime but other contents (two rows' classes swapped) makes split stale.
labels = f"{work}/labels_train.csv"
rows = open(labels).read().splitlines()
swap = [i for i in range(1, len(rows)) if rows[i].split(",")[1] != rows[1].split(",")[1]][0]
a, b = rows[1].split(","), rows[swap].split(",")
rows[1], rows[swap] = f"{a[0]},{b[1]}", f"{b[0]},{a[1]}"
edited = f"{tmp}/labels_train_edited.csv"
open(edited, "w").write("\n".join(rows) + "\n")
st = os.stat(labels)
check(os.path.getsize(edited) == st.st_size, "the edited label file differs in size")
os.utime(edited, ns=(st.st_atime_ns, st.st_mtime_ns))
subprocess.run(["cp", "-p", edited, labels], check=True)
check(os.stat(labels).st_mtime_ns == st.st_mtime_ns and os.path.getsize(labels) == st.st_size, "cp -p changed mtime")
p = run(["run", "--config", cfg3, "--until", "split"])
expect_states(p, {"split": "ran", **{s: "not run" for s in STAGES[1:]}}, "labels replaced by cp -p")
check(f"output changed since it was written: {labels}" in p.stdout, f"no reason for the cp -p rerun: {p.stdout[:800]}")
p = run(["run", "--config", cfg3, "--until", "split"])
expect_states(p, {"split": "skipped", **{s: "not run" for s in STAGES[1:]}}, "rerun after cp -p")

# 9. Another binary: a copy of deepslide with one byte appended (same version, same commit, other
# SHA-256) makes the stage stale; a second run with that binary skips it again.
other = f"{tmp}/deepslide_other"
shutil.copy2(DEEPSLIDE, other)
with open(other, "ab") as fh:
    fh.write(b"\0")
for want in ("ran", "skipped"):
    p = subprocess.run([other, "run", "--config", cfg3, "--until", "split"], capture_output=True, text=True)
    check(p.returncode == 0, f"run with another binary: exit {p.returncode}: {p.stderr[-500:]}")
    expect_states(p, {"split": want, **{s: "not run" for s in STAGES[1:]}}, f"another binary ({want})")
check("another deepslide binary completed it" in p.stdout or want == "skipped", "no reason for the binary rerun")
p = run(["run", "--config", cfg3, "--until", "split"])
expect_states(p, {"split": "ran", **{s: "not run" for s in STAGES[1:]}}, "back to the first binary")
check("another deepslide binary completed it" in p.stdout, f"no reason for the binary rerun: {p.stdout[:800]}")

# 10. The root flags reach the stages (`deepslide --conv-algo direct run` ran every stage with
# auto before) and other algorithms make a stage stale: they round differently.
for want in ("ran", "skipped"):
    p = run(["--conv-algo", "direct", "run", "--config", cfg3, "--until", "split"])
    expect_states(p, {"split": want, **{s: "not run" for s in STAGES[1:]}}, f"--conv-algo direct ({want})")
    if want == "ran":
        check("the convolution algorithms changed" in p.stdout, f"no reason for the algorithm rerun: {p.stdout[:800]}")
        check(re.search(r"\$ deepslide .*--conv-algo direct split ", p.stdout) is not None,
              f"the stage's command line lacks the root flags: {p.stdout[:800]}")
p = run(["run", "--config", cfg3, "--until", "split"])
expect_states(p, {"split": "ran", **{s: "not run" for s in STAGES[1:]}}, "back to the default algorithms")

# 11. A stamp edited into another shape (a number where the build's strings go, outputs as a list)
# counts as no stamp: the stage reruns instead of the run failing on a JSON type error.
for field, value in (("build", {"conv_algorithms": 5}), ("outputs", [1, 2])):
    stamp_path = f"{work}/.stages/split.json"
    stamp = json.load(open(stamp_path))
    stamp[field] = value if field == "outputs" else {**stamp["build"], **value}
    json.dump(stamp, open(stamp_path, "w"))
    p = run(["run", "--config", cfg3, "--until", "split"])
    expect_states(p, {"split": "ran", **{s: "not run" for s in STAGES[1:]}}, f"stamp with a malformed {field}")

# 12. A test slide replaced by another file of the same name: split reruns (its folder changed) and
# writes the same label CSVs, so train is skipped (its slides are unchanged); predict keeps every
# slide but that one (same model and settings), search is skipped (the validation predictions are
# the same files), and the stages that read the test predictions run.
expect_states(run(["run", "--config", cfg3]), ALL_SKIPPED, "before replacing a test slide")
slides_of = lambda part: json.load(open(f"{work}/preds_{part}/predict.json"))["slides"]
csv_mtimes = lambda part: {e["img"]: mtime(f"preds_{part}/{e['csv']}") for e in slides_of(part).values()}
val_before, test_before = csv_mtimes("val"), csv_mtimes("test")
test_rows = [r.split(",") for r in open(f"{work}/labels_test.csv").read().splitlines()[1:]]
train_rows = [r.split(",") for r in open(f"{work}/labels_train.csv").read().splitlines()[1:]]
victim = test_rows[0]
donor = [r for r in train_rows if r[1] == victim[1]][0]
shutil.copy(f"{wsi}/{donor[0]}", f"{wsi}/{victim[0]}")
p = run(["run", "--config", cfg3])
expect_states(p, {"split": "ran", "train": "skipped", "predict": "ran", "search": "skipped", "bundle": "skipped",
                  "visualize": "ran", "evaluate": "ran", "report": "ran"}, "a test slide replaced")
check("predict redoes only the slides that changed" in p.stdout, f"predict cleared its outputs: {p.stdout[-1500:]}")
check(csv_mtimes("val") == val_before, "the validation CSVs were rewritten")
test_after = csv_mtimes("test")
check(test_after[victim[0]] != test_before[victim[0]], "the replaced slide was not predicted again")
check(all(test_after[k] == v for k, v in test_before.items() if k != victim[0]), "an unchanged test slide was redone")
expect_states(run(["run", "--config", cfg3]), ALL_SKIPPED, "after replacing a test slide")

# 13. A file or folder a config key names is an input: editing the annotation folder that [predict]
# annotations names reruns predict (its settings text did not change).
ann = f"{tmp}/ann"
os.makedirs(ann)
cfg_ann = write_config("ann", with_change("predict", "annotations", f'"{ann}"',
                                          with_change("train", "epochs", "2", OVERLAP)))
p = run(["run", "--config", cfg_ann])
# (An empty folder changes no window: search picks the same aggregator and the bundle stays.)
expect_states(p, {**{s: "skipped" for s in STAGES[:2]}, **{s: "ran" for s in STAGES[2:]}, "bundle": "skipped"},
              "annotations added")
stem = os.path.splitext(os.path.basename(victim[0]))[0]
json.dump({"type": "FeatureCollection", "features": [
    {"type": "Feature", "properties": {},
     "geometry": {"type": "Polygon", "coordinates": [[[0, 0], [500, 0], [500, 400], [0, 400], [0, 0]]]}}]},
    open(f"{ann}/{stem}.geojson", "w"))
p = run(["run", "--config", cfg_ann])
check(re.search(r"predict: running \(input changed: " + re.escape(ann) + r"\)", p.stdout) is not None,
      f"an edited annotation folder did not rerun predict: {p.stdout[:1500]}")
entry = [e for e in slides_of("test").values() if e["img"] == victim[0]]
check(len(entry) == 1 and entry[0].get("annotations") == f"{ann}/{stem}.geojson",
      f"predict.json does not name the new annotation file: {entry}")

# 14. What a stage writes is not its input (train's windows_csv), and a config folder holding the
# workdir is fingerprinted without it (the run writes there): a rerun is up to date.
cfg_out = write_config("outputs", with_change("predict", "annotations", f'"{tmp}"',
                                              with_change("train", "windows_csv", f'"{tmp}/windows.csv"',
                                                          with_change("train", "epochs", "2", OVERLAP))))
run(["run", "--config", cfg_out])
check(os.path.exists(f"{tmp}/windows.csv"), "train wrote no windows_csv")
expect_states(run(["run", "--config", cfg_out]), ALL_SKIPPED, "windows_csv and a folder holding the workdir")

# 15. The workdir copied elsewhere (stamps record its paths relative to it): every stage is up to
# date there, and the copy's stages read and write the copy.
moved = f"{tmp}/moved/work"
os.makedirs(f"{tmp}/moved")
run(["run", "--config", cfg3])  # (cfg_out's annotation folder holds the copy: another input)
shutil.copytree(work, moved, symlinks=True)
expect_states(run(["run", "--config", cfg3, "--workdir", moved]), ALL_SKIPPED, "the workdir copied elsewhere")
p = run(["run", "--config", write_config("moved_eval", with_change("evaluate", "bootstrap", "30", OVERLAP)),
         "--workdir", moved, "--from", "evaluate", "--until", "evaluate"])
check(f"--out {moved}/inference_test" in p.stdout, f"the copy's evaluate wrote elsewhere: {p.stdout[-800:]}")

# 16. The shipped configs parse: every key of configs/*.toml, with its commented examples
# uncommented, is one of its command's flags with a value of the right type (the run gets as far as
# split, which then finds no class folders in an empty slide folder).
repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
empty = f"{tmp}/no_classes"
os.makedirs(empty)
for name in ("deepslide.toml", "demo.toml"):
    with open(f"{repo}/configs/{name}") as fh:
        text = re.sub(r"^# ([a-z_]+ = )", r"\1", fh.read(), flags=re.M)
    text = re.sub(r'^all_wsi = "[^"]*"', f'all_wsi = "{empty}"', text, flags=re.M)
    shipped = f"{tmp}/shipped_{name}"
    with open(shipped, "w") as fh:
        fh.write(text)
    p = run(["run", "--config", shipped, "--workdir", f"{tmp}/shipped_work", "--until", "split"], expect=2)
    check("no class folders" in p.stderr and "unknown key" not in p.stderr,
          f"configs/{name} with its examples uncommented did not parse: {p.stderr[-600:]}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
shutil.rmtree(tmp)
