#!/usr/bin/python3
"""`deepslide patches` with a bad slide among good ones, and slides that share a stem: the bad
slide (garbage bytes with a TIFF magic) is reported on one line naming the file and the reason
and counted in the summary, the other slides are exported, and the command exits 2 at the end;
a/s.png and b/s.png of the same class get distinct names (their label-CSV paths flattened,
"a%2Fs.png"), in both layouts, while a slide whose stem is unique keeps DeepSlide's name.
Run by ctest (DEEPSLIDE set)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, error_line, failures, run, tempdir  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

tmp = tempdir("ds_patches_isolation_")
wsi = f"{tmp}/wsi"
rng = np.random.default_rng(1)
for rel in ("a/s.png", "b/s.png", "d/t.png"):
    os.makedirs(os.path.dirname(f"{wsi}/{rel}"), exist_ok=True)
    img = np.array([205, 120, 195]) + rng.normal(0, 8, (96, 128, 3))  # purple: tissue everywhere
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(f"{wsi}/{rel}")
os.makedirs(f"{wsi}/c")
with open(f"{wsi}/c/s.tif", "wb") as f:
    f.write(b"II*\0" + bytes(range(64)))
with open(f"{tmp}/labels.csv", "w") as f:
    f.write("img,gt\na/s.png,x\nb/s.png,x\nc/s.tif,y\nd/t.png,y\n")

for by_folder in (False, True):
    out = f"{tmp}/out_{int(by_folder)}"
    p = run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/labels.csv", "--out", out, "--patch-size", "32",
             "--tissue", "none"] + (["--by-folder"] if by_folder else []), expect=2)
    failed = [line for line in p.stderr.splitlines() if "FAILED" in line]
    check(len(failed) == 1 and f"{wsi}/c/s.tif: " in failed[0], f"not one FAILED line naming c/s.tif: {p.stderr}")
    check("patches: 1 slide failed:" in p.stdout and f"{wsi}/c/s.tif: " in p.stdout, f"summary: {p.stdout}")
    check("1 of 4 slides failed" in error_line(p), f"last line: {error_line(p)}")
    if by_folder:
        got = {d: len(os.listdir(f"{out}/{c}/{d}/{d}")) for c in ("x", "y") for d in os.listdir(f"{out}/{c}")}
        check(sorted(got) == ["a%2Fs.png", "b%2Fs.png", "t"] and len(set(got.values())) == 1 and got["t"] > 0,
              f"--by-folder slide folders and patch counts: {got}")
    else:
        names = {c: sorted(os.listdir(f"{out}/{c}")) for c in ("x", "y")}
        prefixes = {c: sorted({n.rsplit("_", 2)[0] for n in names[c]}) for c in names}
        check(prefixes == {"x": ["a%2Fs.png", "b%2Fs.png"], "y": ["t"]}, f"slide names: {prefixes}")
        check(len(names["y"]) > 0 and len(names["x"]) == 2 * len(names["y"]),
              f"patch counts: {[len(v) for v in names.values()]}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("ok")
shutil.rmtree(tmp)
