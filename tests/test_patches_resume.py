#!/usr/bin/python3
"""`deepslide patches` run again into its folder: each slide written from the same bytes and
settings is skipped ("up to date", no patch rewritten, .patches.json "done"); a slide replaced by
other bytes under its name is written again with its earlier patches removed first, so the folder
equals a fresh export; a stop (SIGTERM) exits 143 with a message naming the slide, and the rerun
removes what the stopped slide left (a planted leftover too) and ends equal to a fresh export; in
--by-folder layout the same; a marker of an export cut short, or a patch deleted by hand, makes
the slide be written again; redoing a slide leaves another slide's patches of the same name in
another class folder alone, and the same name in one class folder from another CSV is refused;
another binary writes every slide again; a bad
DEEPSLIDE_PATCHES_JSON_INTERVAL is refused. Run by ctest (DEEPSLIDE set)."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import DEEPSLIDE, check, error_line, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_patches_resume_")
wsi = f"{tmp}/wsi"
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "3", "--width", "1200", "--height", "900",
     "--seed", "4"])
labels = f"{tmp}/labels.csv"
rows = []
for cls in sorted(os.listdir(wsi)):
    rows += [(f"{cls}/{f}", cls) for f in sorted(os.listdir(f"{wsi}/{cls}"))]
open(labels, "w").write("img,gt\n" + "".join(f"{r},{c}\n" for r, c in rows))


def patches(out, extra=(), binary=DEEPSLIDE, expect=0, env=None):
    args = [binary, "patches", "--all-wsi", wsi, "--labels", labels, "--out", out, "--patch-size", "32", "--quiet",
            "--threads", "2", *(extra if "--level" in extra else ["--level", "1", *extra])]
    p = subprocess.run(args, capture_output=True, text=True, env=env)
    check(p.returncode == expect, f"{' '.join(args[1:])}: exit {p.returncode}, expected {expect}: {p.stderr[-600:]}")
    return p


def files(out):
    """Relative path -> (bytes, mtime) of every patch under out."""
    got = {}
    for d, _, fs in os.walk(out):
        for f in fs:
            if f.endswith(".jpg"):
                path = os.path.join(d, f)
                got[os.path.relpath(path, out)] = (open(path, "rb").read(), os.stat(path).st_mtime_ns)
    return got


def same_as_fresh(out, extra, what):
    fresh = f"{tmp}/fresh_{len(os.listdir(tmp))}"
    patches(fresh, extra)
    a, b = files(out), files(fresh)
    check(sorted(a) == sorted(b), f"{what}: {len(set(a) ^ set(b))} files differ from a fresh export, e.g. "
                                  f"{sorted(set(a) ^ set(b))[:3]}")
    check(all(a[k][0] == b[k][0] for k in a if k in b), f"{what}: patch bytes differ from a fresh export")


for by_folder in (False, True):
    extra = ["--by-folder"] if by_folder else []
    out = f"{tmp}/out{int(by_folder)}"
    patches(out, extra)
    record = json.load(open(f"{out}/.patches.json"))
    check(sorted(record.get("done", {})) == sorted(r for r, _ in rows) and
          all(d["patches"] > 0 and len(d["slide"]["sha256"]) == 64 for d in record["done"].values()),
          f"done records: {record.get('done')}")
    before = files(out)

    # A rerun: every slide up to date, no patch rewritten.
    p = patches(out, extra)
    check(f"{len(rows)} slides up to date, skipped" in p.stdout and "wrote 0 patches from 0 slides" in p.stdout,
          f"rerun: {p.stdout}")
    check(files(out) == before, "a rerun rewrote patches")

    # A slide replaced by another slide's bytes (same name): it alone is written again, and its
    # earlier patches whose windows the new bytes do not have are gone.
    victim, donor = rows[0][0], rows[1][0]
    shutil.copy(f"{wsi}/{donor}", f"{tmp}/saved_victim")
    shutil.copy(f"{wsi}/{victim}", f"{tmp}/saved_victim")
    shutil.copy(f"{wsi}/{donor}", f"{wsi}/{victim}")
    p = patches(out, extra)
    check(f"{len(rows) - 1} slides up to date, skipped" in p.stdout and "from 1 slide to" in p.stdout,
          f"replaced slide: {p.stdout}")
    after = files(out)
    check(all(after[k][1] == v[1] for k, v in before.items() if k in after and "s_000" not in k and
              not k.startswith(rows[0][1] + "/" + os.path.splitext(os.path.basename(victim))[0])),
          "patches of unchanged slides rewritten")
    same_as_fresh(out, extra, "after replacing a slide")
    shutil.copy(f"{tmp}/saved_victim", f"{wsi}/{victim}")
    patches(out, extra)
    same_as_fresh(out, extra, "after restoring the slide")

    # Stopped mid-run (SIGTERM once the first patch of the run exists), then a leftover planted
    # for every slide not recorded as done: the rerun removes them and equals a fresh export.
    for f in os.listdir(out):
        if not f.startswith("."):
            shutil.rmtree(f"{out}/{f}")
    os.remove(f"{out}/.patches.json")
    args = [DEEPSLIDE, "patches", "--all-wsi", wsi, "--labels", labels, "--out", out, "--patch-size", "32",
            "--level", "0", "--overlap", "1", "--quiet", "--threads", "1", *extra]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while proc.poll() is None and time.monotonic() < deadline and not files(out):
        time.sleep(0.005)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    if proc.returncode == 143:  # in a slide or between two (the slides are small)
        last = err.strip().splitlines()[-1]
        check(last.startswith("deepslide: interrupted (SIGTERM): stopped ") and "slide" in last,
              f"stop message: {err[-300:]!r}")
    else:
        check(proc.returncode == 0, f"stopped patches: exit {proc.returncode}: {err[-300:]}")
    done = json.load(open(f"{out}/.patches.json")).get("done", {})
    for img, cls in rows:
        if img in done:
            continue
        stem = os.path.splitext(os.path.basename(img))[0]
        if by_folder:
            os.makedirs(f"{out}/{cls}/{stem}/{stem}", exist_ok=True)
            open(f"{out}/{cls}/{stem}/{stem}/99999;99999.jpg", "wb").write(b"left over")
        else:
            os.makedirs(f"{out}/{cls}", exist_ok=True)
            open(f"{out}/{cls}/{stem}_99999_99999.jpg", "wb").write(b"left over")
    patches(out, ["--level", "0", "--overlap", "1", *extra])
    same_as_fresh(out, ["--level", "0", "--overlap", "1", *extra], "after a stop")

# A marker left by an export cut short (planted here: a SIGKILL after the marker is written), or a
# patch deleted by hand: the slide is written again even though its record matches.
out = f"{tmp}/out_marks"
patches(out)
record = json.load(open(f"{out}/.patches.json"))["done"]
img, cls = rows[2]
stem = os.path.splitext(os.path.basename(img))[0]
mine = sorted(f for f in os.listdir(f"{out}/{cls}") if f.startswith(stem + "_"))
os.makedirs(f"{out}/.exporting", exist_ok=True)
json.dump({"img": img, "name": stem, "class": cls}, open(f"{out}/.exporting/{img.replace('/', '%2F')}.json", "w"))
for f in mine[: len(mine) // 2]:
    os.remove(f"{out}/{cls}/{f}")
p = patches(out)
check(f"{len(rows) - 1} slides up to date, skipped" in p.stdout and not os.listdir(f"{out}/.exporting"),
      f"an interrupted slide: {p.stdout}")
same_as_fresh(out, [], "after an interrupted slide")
os.remove(f"{out}/{cls}/{mine[0]}")
p = patches(out)
check(f"{len(rows) - 1} slides up to date, skipped" in p.stdout, f"a patch deleted by hand: {p.stdout}")
same_as_fresh(out, [], "after a patch deleted by hand")

# A marker edited to name another slide's patches (a hostile folder): the run is refused and that
# slide's patches stay; a FIFO planted as .patches.json is refused at once (it blocked in open).
victim_img, victim_cls = rows[3]
victim_stem = os.path.splitext(os.path.basename(victim_img))[0]
kept = files(f"{out}/{victim_cls}")
img0 = rows[0][0]
json.dump({"img": img0, "name": victim_stem, "class": victim_cls},
          open(f"{out}/.exporting/{img0.replace('/', '%2F')}.json", "w"))
p = patches(out, expect=2)
check(files(f"{out}/{victim_cls}") == kept and "would write its patches as" in error_line(p),
      f"a crafted marker naming another slide's patches: {p.stderr[-300:]!r}")
os.remove(f"{out}/.exporting/{img0.replace('/', '%2F')}.json")
fifo_out = f"{tmp}/fifo_out"
os.makedirs(fifo_out)
os.mkfifo(f"{fifo_out}/.patches.json")
p = patches(fifo_out, expect=2)
check(".patches.json: unreadable" in error_line(p), f"FIFO .patches.json: {p.stderr!r}")

# Two slides with one stem in two classes, exported together then one alone from another CSV:
# redoing one leaves the other's patches (same names, other class folder) alone. The same stem in
# one class from two CSVs would mix two slides' patches under one name: refused.
wsi2 = f"{tmp}/wsi2"
for c in ("A", "B"):
    os.makedirs(f"{wsi2}/{c}")
shutil.copy(f"{wsi}/{rows[0][0]}", f"{wsi2}/A/s.tif")
shutil.copy(f"{wsi}/{rows[3][0]}", f"{wsi2}/B/s.tif")
open(f"{tmp}/all.csv", "w").write("img,gt\nA/s.tif,A\nB/s.tif,B\n")
open(f"{tmp}/a.csv", "w").write("img,gt\nA/s.tif,A\n")
open(f"{tmp}/c.csv", "w").write("img,gt\nC/s.tif,A\n")
os.makedirs(f"{wsi2}/C")
shutil.copy(f"{wsi}/{rows[1][0]}", f"{wsi2}/C/s.tif")
P2 = lambda csv, expect=0: subprocess.run([DEEPSLIDE, "patches", "--all-wsi", wsi2, "--labels", csv, "--out",
                                            f"{tmp}/out2", "--patch-size", "32", "--level", "1", "--quiet"],
                                           capture_output=True, text=True)
check(P2(f"{tmp}/all.csv").returncode == 0, "two classes, one stem")
b_before = files(f"{tmp}/out2/B")
shutil.copy(f"{wsi}/{rows[2][0]}", f"{wsi2}/A/s.tif")
check(P2(f"{tmp}/a.csv").returncode == 0, "the class-A slide alone")
check(files(f"{tmp}/out2/B") == b_before, "redoing A/s.tif touched B/s.tif's patches")
q = P2(f"{tmp}/all.csv")
check(q.returncode == 0 and "2 slides up to date" in q.stdout, f"both after: {q.stdout}")
q = P2(f"{tmp}/c.csv")
check(q.returncode == 2 and "would write its patches as 's_*', the names of slide 'A/s.tif'" in q.stderr,
      f"same stem, same class, another CSV: {q.stderr!r}")

# Another binary (one byte appended): every slide is written again.
other = f"{tmp}/deepslide_other"
shutil.copy2(DEEPSLIDE, other)
with open(other, "ab") as fh:
    fh.write(b"\0")
STOPPED = ["--level", "0", "--overlap", "1"]  # out0's settings since the stop
p = patches(f"{tmp}/out0", STOPPED, binary=other)
check(f"from {len(rows)} slides" in p.stdout and "up to date" not in p.stdout, f"another binary: {p.stdout}")

p = patches(f"{tmp}/out0", STOPPED, expect=2, env={**os.environ, "DEEPSLIDE_PATCHES_JSON_INTERVAL": "soon"})
check("DEEPSLIDE_PATCHES_JSON_INTERVAL" in error_line(p), f"bad interval: {p.stderr!r}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
shutil.rmtree(tmp)
