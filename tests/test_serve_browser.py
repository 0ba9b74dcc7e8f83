# `deepslide serve` in a real browser: headless Chromium (Debian's `chromium`) opens the viewer on
# a synthetic slide with a predict run and a GeoJSON annotation, and the page's self-test
# (`#selftest=1`, serve/web/viewer.js) reports what it saw: tiles loaded (each one answered 200;
# a failed tile is counted apart), the prediction layer on, off after a click on its checkbox and
# on again, a heatmap shown, the annotation polygons drawn and toggled, the diagnosis panel, a
# click on a window showing its two class probabilities, and the scale bar. A screenshot is kept
# in the build folder (serve_screenshot.png) and checked not blank. Exit 77 (ctest: skipped,
# never passed) when chromium is missing or cannot start.
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_harness as h  # noqa: E402
from serve_harness import serving  # noqa: E402

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                  "--window-size=1200,800", "--virtual-time-budget=15000"]


def chromium(binary, args, out_dir):
    return subprocess.run([binary, *CHROMIUM_FLAGS, f"--user-data-dir={out_dir}", *args],
                          capture_output=True, text=True, timeout=90)


def skip(why):
    print(f"not run: {why}")
    sys.exit(77)


def main():
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        skip("chromium is not installed (scripts/install-deps.sh installs it)")
    tmp = h.tempdir("ds_serve_browser_")
    h.run(["synth", "--out", os.path.join(tmp, "syn"), "--classes", "2", "--slides-per-class", "1",
           "--width", "2400", "--height", "1800"])
    slide = os.path.join(tmp, "syn", "solid", "solid_000.tif")
    w, hgt = json.loads(h.run(["info", slide]).stdout)["levels"][0]["width"], 1600
    run = os.path.join(tmp, "run")
    os.makedirs(run)
    rng = np.random.default_rng(5)
    text = "x,y,prediction,confidence,prob_benign,prob_tumor\n"
    for y in range(0, hgt - 224, 112):
        for x in range(0, w - 224, 112):
            p = rng.uniform()
            text += f"{x},{y},{'tumor' if p > 0.5 else 'benign'},{max(p, 1 - p):.4f},{1 - p:.4f},{p:.4f}\n"
    h.write_finished_csv(os.path.join(run, "s.csv"), text)
    with open(os.path.join(run, "predict.json"), "w") as f:
        json.dump({"slides": {"s": {"path": slide, "csv": "s.csv", "window_side": 224}}}, f)
    ann = os.path.join(tmp, "ann")
    os.makedirs(ann)
    with open(os.path.join(ann, "solid_000.geojson"), "w") as f:
        json.dump({"type": "Feature", "properties": {"classification": {"name": "tumor"}}, "geometry": {
            "type": "Polygon", "coordinates": [[[300, 300], [1500, 350], [1200, 1200], [350, 1000], [300, 300]]]}}, f)
    with serving("--annotations", ann, run, ok_message="serve in chromium: ok") as srv:
        sid = json.loads(srv.get("/api/slides")[2])[0]["id"]
        page = f"{srv.url}#slide={sid}&selftest=1"
        p = chromium(binary, ["--dump-dom", page], os.path.join(tmp, "profile1"))
        m = re.search(r'<pre id="selftest"[^>]*>(.*?)</pre>', p.stdout, re.S)
        if p.returncode != 0 and not p.stdout:
            skip(f"chromium did not start (exit {p.returncode}): {p.stderr.strip()[-300:]}")
        h.check(m and m.group(1).strip(), f"the page wrote no self-test result; chromium exit {p.returncode}")
        if m and m.group(1).strip():
            r = json.loads(m.group(1).replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">"))
            print("page self-test:", r)
            h.check(r["slide"] == sid and r["tilesLoaded"] > 0 and r["tilesFailed"] == 0, f"tiles: {r}")
            h.check(r["windows"] > 0 and r["squaresOn"] and not r["squaresAfterToggle"] and r["squaresAfterSecondToggle"],
                    f"prediction layer toggling: {r}")
            h.check(r["heatmapOn"], f"heatmap: {r}")
            h.check(r["annotationPaths"] == 1 and not r["annotationsAfterToggle"], f"annotations: {r}")
            h.check("windows predicted" in r["diagnosisText"], f"diagnosis panel: {r['diagnosisText']}")
            x, y = r.get("clickedWindow", [None, None])
            h.check(f"window at x {x}, y {y}" in r.get("clickText", "") and r["clickText"].count("%") == 2,
                    f"click on a window: {r.get('clickText')!r}")
            h.check(re.fullmatch(r"\d+ (µm|mm)", r["scaleBar"] or "") is not None, f"scale bar: {r['scaleBar']!r}")
        shot = os.path.join(os.getcwd(), "serve_screenshot.png")
        p = chromium(binary, [f"--screenshot={shot}", f"{srv.url}#slide={sid}"], os.path.join(tmp, "profile2"))
        h.check(os.path.exists(shot), f"no screenshot: exit {p.returncode} {p.stderr[-300:]}")
        if os.path.exists(shot):
            img = np.asarray(Image.open(shot).convert("RGB")).astype(float)
            view = img[100:700, 400:1100]  # inside the viewer, right of the 300 px side panel
            print(f"screenshot {shot}: viewer std {view.std():.1f}, mean {view.mean():.1f}")
            h.check(view.std() > 10 and view.mean() < 250, f"screenshot looks blank (std {view.std():.1f})")


if __name__ == "__main__":
    main()
