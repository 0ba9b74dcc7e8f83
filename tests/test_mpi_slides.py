#!/usr/bin/python3
"""`deepslide predict`, `diagnose` and `patches` under `mpirun -np 2` on one machine (loopback),
against one process without mpirun, on small synthetic slides with a corrupt one among them:
- every output file of the 2-rank run equals the 1-process run's byte for byte; the files that
  hold timings (predict.json, diagnoses.csv, diagnosis.json: docs/formats.md) are compared with
  their timing fields taken out, everything else in them byte for byte;
- the corrupt slide is reported once (one FAILED line, one summary entry), the others go on and
  both runs exit 2; only rank 0 prints (one outcome line per slide, no rank-1 lines);
- resume: a 1-process predict interrupted mid-slide (a partial file and finished CSVs left), then
  finished by 2 ranks: the finished slides are skipped, the partial one continued, and the folder
  equals the uninterrupted run's;
- ranks given other flags, or other files (another label CSV in each rank's working folder), are
  refused at the start: exit 2, one line naming the rank.
Prints "not run: ..." (ctest SKIP) when mpirun is missing or the binary was built without MPI.
Run by ctest (DEEPSLIDE set)."""
import csv
import io
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, failures, interrupted_after_commit, out_name, partial_rows, run, tempdir  # noqa: E402

from mpi_harness import ENV, MPI  # noqa: E402  (exits "not run" without mpirun)
TIMEOUT = 120
# The fields docs/formats.md lists as timings (wall times and commit counts that depend on them).
TIMINGS = {"seconds", "scan_seconds", "read_seconds", "net_seconds", "commits", "commit_seconds", "timings"}

tmp = tempdir("ds_mpi_slides_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "3", "--width", "500", "--height", "400",
     "--seed", "8"])
classes = sorted(os.listdir(wsi))
rows = [(f"{c}/{s}", c) for c in classes for s in sorted(os.listdir(f"{wsi}/{c}"))]
# A corrupt slide among them: a good one cut short.
bad = f"{classes[0]}/broken.tif"
with open(f"{wsi}/{rows[0][0]}", "rb") as f:
    head = f.read(20000)
with open(f"{wsi}/{bad}", "wb") as f:
    f.write(head)
rows.insert(2, (bad, classes[0]))
labels = f"{tmp}/labels.csv"
with open(labels, "w") as f:
    f.write("img,gt\n" + "".join(f"{i},{g}\n" for i, g in rows))
model = f"{tmp}/m.safetensors"
run(["init-model", "--arch", "resnet18", "--classes", ",".join(classes), "--patch-size", "32", "--seed", "1",
     "--out", model])
# The hash cache remembers only files unchanged for 2 s (base/file_hash_cache.h): let the slides settle.
time.sleep(2.1)
PREDICT = ["predict", "--model", model, "--all-wsi", wsi, "--labels", labels, "--overlap", "1", "--threads", "1",
           "--batch-size", "8", "--out", "out"]


def launch(ranks, args, cwd, expect):
    """ranks = 0: one process without mpirun. Outputs go to `cwd` (relative --out), so the two
    runs' files name the same paths."""
    os.makedirs(cwd, exist_ok=True)
    cmd = ([DEEPSLIDE] if ranks == 0 else MPI + ["-np", str(ranks), DEEPSLIDE]) + args
    p = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=cwd, timeout=TIMEOUT)
    if p.returncode != expect:
        failures.append(f"{ranks} rank(s) {' '.join(args[:1])} in {cwd}: exit {p.returncode}, expected {expect}: "
                        f"{p.stderr.strip()[-1500:]}")
    return p


def without(v, drop):
    if isinstance(v, dict):
        return {k: without(x, drop) for k, x in v.items() if k not in drop}
    if isinstance(v, list):
        return [without(x, drop) for x in v]
    return v


def comparable(path, drop=TIMINGS):
    """A file's bytes, or for the files that hold timings their content without them (key order kept)."""
    data = open(path, "rb").read()
    name = os.path.basename(path)
    if name in ("predict.json", "diagnosis.json"):
        return json.dumps(without(json.loads(data, object_pairs_hook=dict), drop))
    if name == "diagnoses.csv":
        table = list(csv.reader(io.StringIO(data.decode())))
        col = table[0].index("seconds")
        return [r[:col] + r[col + 1:] for r in table]
    return data


def compare_folders(a, b, what, drop=TIMINGS):
    files = {}
    for root in (a, b):
        for d, _, names in os.walk(root):
            for n in names:
                # The hash cache is compared on its own (hashes_of_every_slide); .lock is the folder's lock.
                if n not in (".slide-hashes.json", ".lock"):
                    files.setdefault(os.path.relpath(os.path.join(d, n), root), []).append(root)
    check(len(files) > 0, f"{what}: no files in {a}")
    only = sorted(f for f, roots in files.items() if len(roots) != 2)
    check(not only, f"{what}: files in one run only: {only[:10]}")
    differ = sorted(f for f, roots in files.items()
                    if len(roots) == 2 and comparable(os.path.join(a, f), drop) != comparable(os.path.join(b, f), drop))
    check(not differ, f"{what}: files that differ between 1 process and 2 ranks: {differ[:10]}")
    return len(files)


def hashes_of_every_slide(a, b, what):
    """Rank 0 saves the hashes every rank made: both runs remember the same slides, all of them."""
    ha, hb = (json.load(open(f"{r}/.slide-hashes.json")) if os.path.exists(f"{r}/.slide-hashes.json") else {}
              for r in (a, b))
    good = {os.path.realpath(f"{wsi}/{i}") for i, _ in rows if i != bad}
    check(good <= {os.path.realpath(k) for k in hb}, f"{what}: 2 ranks' .slide-hashes.json lacks slides: "
          f"{sorted(good - {os.path.realpath(k) for k in hb})}")
    check(ha == hb, f"{what}: .slide-hashes.json differs between 1 process and 2 ranks")


def outcome_lines(p):
    return [line for line in p.stderr.splitlines() if line.startswith("[") and f"/{len(rows)}] " in line]


probe = subprocess.run(MPI + ["-np", "2", DEEPSLIDE, "info", "/nonexistent.tif"], capture_output=True, text=True,
                       env=ENV, timeout=TIMEOUT)
if "built without MPI" in probe.stderr:
    print("not run: this deepslide was built without MPI")
    sys.exit(0)

# ---- predict: 1 process against 2 ranks
one = launch(0, PREDICT, f"{tmp}/one", expect=2)
two = launch(2, PREDICT, f"{tmp}/two", expect=2)
n = compare_folders(f"{tmp}/one/out", f"{tmp}/two/out", "predict")
hashes_of_every_slide(f"{tmp}/one/out", f"{tmp}/two/out", "predict")
check(n == 2 * (len(rows) - 1) + 1, f"predict wrote {n} files (a CSV and a key per good slide, predict.json)")
meta = json.load(open(f"{tmp}/two/out/predict.json"))
check(list(meta["slides"]) == [out_name(i) for i, _ in rows if i != bad],
      f"predict.json's slides in label-CSV order: {list(meta['slides'])}")
lines = outcome_lines(two)
check(len(lines) == len(rows), f"2 ranks: {len(lines)} outcome lines for {len(rows)} slides:\n" + "\n".join(lines))
check(sum("FAILED" in line for line in lines) == 1 and two.stdout.count("1 slide failed:") == 1,
      "the corrupt slide is reported once: " + two.stderr[-1500:] + two.stdout)
check("broken.tif" in two.stdout and "1 of 7 slides failed" in two.stderr, "summary and error line: " + two.stderr[-600:])
check("rank 1" not in two.stderr and two.stdout.count("predict: ") == one.stdout.count("predict: "),
      "only rank 0 prints: " + two.stderr[-1000:] + two.stdout)

# ---- resume: one process interrupted mid-slide, two ranks finish the run
res = f"{tmp}/resume"
os.makedirs(res)
partial = f"{res}/out/{out_name(rows[3][0])}.partial"  # the fourth slide: three before it done (one failed)
os.chdir(res)  # the helper starts deepslide in the working folder
code, _ = interrupted_after_commit([*PREDICT, "--commit-seconds", "0"], partial, signal.SIGINT, env=ENV)
os.chdir(tmp)
check(code == 130 and partial_rows(partial) > 0, f"interrupted run: exit {code}, partial rows {partial_rows(partial)}")
p = launch(2, PREDICT, res, expect=2)
check(p.stderr.count("is up to date, skipped") == 2, "2 ranks skip the 2 finished slides: " + p.stderr[-1500:])
check(p.stderr.count("resumed from a partial file") == 1, "2 ranks continue the partial slide: " + p.stderr[-1500:])
# predict.json's `resumed` says how many windows came from the partial file: there, and only there.
compare_folders(f"{tmp}/one/out", f"{res}/out", "predict resumed by 2 ranks", TIMINGS | {"resumed"})
resumed = {k: e["resumed"] for k, e in json.load(open(f"{res}/out/predict.json"))["slides"].items() if e["resumed"]}
check(list(resumed) == [out_name(rows[3][0])], f"resumed windows per slide: {resumed}")

# ---- diagnose (a bundle made from the 1-process predictions) and patches
good = f"{tmp}/labels_good.csv"
with open(good, "w") as f:
    f.write("img,gt\n" + "".join(f"{i},{g}\n" for i, g in rows if i != bad))
run(["search", "--preds", f"{tmp}/one/out", "--labels", good, "--out", f"{tmp}/search"])
bundle = f"{tmp}/b.safetensors"
run(["bundle", "--model", model, "--aggregator", f"{tmp}/search/aggregator.json", "--out", bundle])
DIAGNOSE = ["diagnose", "--bundle", bundle, "--out", "dout", "--threads", "1", "--thumb-size", "128", "--quiet", wsi]
one = launch(0, DIAGNOSE, f"{tmp}/one", expect=2)
two = launch(2, DIAGNOSE, f"{tmp}/two", expect=2)
n = compare_folders(f"{tmp}/one/dout", f"{tmp}/two/dout", "diagnose")
hashes_of_every_slide(f"{tmp}/one/dout", f"{tmp}/two/dout", "diagnose")
check(n > len(rows) * 5, f"diagnose wrote {n} files")
check(sum("FAILED" in line for line in outcome_lines(two)) == 1 and two.stderr.count("failed: ") == 1,
      "diagnose reports the corrupt slide once: " + two.stderr[-1500:])

PATCHES = ["patches", "--all-wsi", wsi, "--labels", labels, "--out", "pout", "--threads", "1", "--patch-size", "32",
           "--quiet"]
one = launch(0, PATCHES, f"{tmp}/one", expect=2)
two = launch(2, PATCHES, f"{tmp}/two", expect=2)
n = compare_folders(f"{tmp}/one/pout", f"{tmp}/two/pout", "patches")
check(n > 100, f"patches wrote {n} files")
check(two.stdout == one.stdout, f"patches summaries differ:\n{one.stdout}\n{two.stdout}")
hashes_of_every_slide(f"{tmp}/one/pout", f"{tmp}/two/pout", "patches")
# Rerun with 2 ranks: every good slide up to date (whichever rank recorded it), nothing rewritten.
again = launch(2, PATCHES, f"{tmp}/two", expect=2)
check(f"{len(rows) - 1} slides up to date, skipped" in again.stdout, f"patches rerun with 2 ranks: {again.stdout}")
compare_folders(f"{tmp}/one/pout", f"{tmp}/two/pout", "patches after a rerun")

# ---- ranks that disagree: other flags, other files
OTHER = [a if a != "1" else "2" for a in PREDICT]  # --overlap 2 (and --threads 2, which is allowed)
odd = subprocess.run(MPI + ["-np", "1", DEEPSLIDE] + PREDICT + [":", "-np", "1", DEEPSLIDE] + OTHER,
                     capture_output=True, text=True, env=ENV, cwd=f"{tmp}/one", timeout=TIMEOUT)
check(odd.returncode == 2 and "rank 1 of 2 has other flags" in odd.stderr,
      f"ranks with other flags: exit {odd.returncode}: {odd.stderr[-800:]}")
for k, keep in enumerate((len(rows), len(rows) - 1)):
    os.makedirs(f"{tmp}/rank{k}", exist_ok=True)
    with open(f"{tmp}/rank{k}/labels.csv", "w") as f:
        f.write("img,gt\n" + "".join(f"{i},{g}\n" for i, g in rows[:keep]))
LOCAL = [a if a != labels else "labels.csv" for a in PREDICT]
odd = subprocess.run(MPI + ["-np", "1", "--wdir", f"{tmp}/rank0", DEEPSLIDE] + LOCAL +
                     [":", "-np", "1", "--wdir", f"{tmp}/rank1", DEEPSLIDE] + LOCAL,
                     capture_output=True, text=True, env=ENV, timeout=TIMEOUT)
check(odd.returncode == 2 and "rank 1 of 2 has other flags, data" in odd.stderr,
      f"ranks seeing other files: exit {odd.returncode}: {odd.stderr[-800:]}")
check(not os.path.exists(f"{tmp}/rank0/out/predict.json"), "a refused run wrote predict.json")

for f in failures:
    print("FAIL:", f)
print("ok" if not failures else "")
sys.exit(1 if failures else 0)
