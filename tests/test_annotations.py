#!/usr/bin/python3
"""Annotations in and GeoJSON out, checked with shapely (GEOS) as the oracle.

- Windows inside annotations: random polygons with holes (QuPath GeoJSON, then the same shapes
  as ASAP XML) over synthetic slides; `patches --annotations --tissue none` must write exactly
  the grid windows one class covers at least --annotation-cover of (by shapely's area of the
  intersection), under that class; windows near the threshold are not judged.
- `train --annotations --windows-csv`: every training and validation window lies inside its
  class's annotations, and none from a slide without an annotation file.
- `geojson`: the FeatureCollection loads in shapely, one closed square per window inside the
  slide, QuPath's properties (objectType, classification {name, color [r,g,b]}, measurements);
  contours equal shapely's union of each class's squares.
- Aperio ImageScope XML (tests/fixtures/annotations/aperio_imagescope.xml, made by make_aperio.py
  there): the windows `patches` writes are those shapely's reading of the file covers (per layer,
  its positive regions minus its negative ones; the ellipse as a fine polygon), under the layer's
  Name, else the region's Text, else the slide's class.
- Bad annotation files: exit 2 and one line naming the file and feature (an XML DTD, an Aperio
  arrow, a hole crossing its region's outline, an unknown XML root, holes too costly to place
  among them)."""
import csv
import json
import math
import os
import random
import re
import sys
import xml.etree.ElementTree as ET

from shapely.affinity import scale
from shapely.geometry import Point, Polygon, box, shape
from shapely.ops import unary_union

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cli_harness import check, error_line, failures, run, tempdir  # noqa: E402

tmp = tempdir("ds_annot_")
wsi = f"{tmp}/wsi"
W, H = 640, 480
run(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "2", "--width", str(W), "--height", str(H),
     "--seed", "3"])
classes = sorted(os.listdir(wsi))
slides = sorted(f"{c}/{f}" for c in classes for f in os.listdir(f"{wsi}/{c}"))
PATCH = 64


def slide_size(img):
    level0 = json.loads(run(["info", f"{wsi}/{img}"]).stdout)["levels"][0]
    return level0["width"], level0["height"]


def star(rng, cx, cy, r):
    """A random star-shaped (often concave) ring around (cx, cy)."""
    n = rng.randint(6, 12)
    angles = [2 * math.pi * (k + rng.uniform(-0.3, 0.3)) / n for k in range(n)]
    return [(cx + rng.uniform(0.4, 1.0) * r * math.cos(a), cy + rng.uniform(0.4, 1.0) * r * math.sin(a)) for a in angles]


def random_polygon(rng, cx, cy, r):
    while True:
        outer = star(rng, cx, cy, r)
        hole = [(cx + 0.2 * r * math.cos(a), cy + 0.2 * r * math.sin(a)) for a in (0, 1.3, 2.6, 3.9, 5.2)]
        p = Polygon(outer, [hole] if rng.random() < 0.7 else [])
        if p.is_valid:
            return p


def feature(poly, cls):
    rings = [list(poly.exterior.coords)] + [list(i.coords) for i in poly.interiors]
    f = {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[list(p) for p in r] for r in rings]},
         "properties": {"objectType": "annotation"}}
    if cls:
        f["properties"]["classification"] = {"name": cls, "color": [255, 0, 0]}
    return f


def asap(polys):
    out = ['<?xml version="1.0"?>', "<ASAP_Annotations>", "<Annotations>"]
    for i, (poly, cls) in enumerate(polys):
        assert not poly.interiors
        out.append(f'<Annotation Name="A{i}" Type="Polygon" PartOfGroup="{cls or "None"}" Color="#F4FA58"><Coordinates>')
        for k, (x, y) in enumerate(list(poly.exterior.coords)[:-1]):
            out.append(f'<Coordinate Order="{k}" X="{x}" Y="{y}" />')
        out.append("</Coordinates></Annotation>")
    out += ["</Annotations>", "<AnnotationGroups />", "</ASAP_Annotations>"]
    return "\n".join(out)


def expected_windows(polys, gt, cover, size, step, side, tol=None):
    """grid window -> (class, share) for windows clearly above the threshold; clearly below -> None;
    near the threshold (sampled union, rounding, or `tol`) -> 'skip'."""
    by_class = {}
    for poly, cls in polys:
        by_class.setdefault(cls or gt, []).append(poly)
    unions = {c: unary_union(p) for c, p in by_class.items()}
    overlapping = any(a.intersects(b) for ps in by_class.values() for i, a in enumerate(ps) for b in ps[i + 1:])
    tol = tol or (0.03 if overlapping else 1e-6)
    out = {}
    for y in range(0, size[1] - side + 1, step):
        for x in range(0, size[0] - side + 1, step):
            sq = box(x, y, x + side, y + side)
            shares = sorted(((unions[c].intersection(sq).area / sq.area, c) for c in unions), key=lambda t: (-t[0], t[1]))
            best, cls = shares[0]
            if abs(best - cover) < tol or (len(shares) > 1 and abs(shares[0][0] - shares[1][0]) < tol and best >= cover):
                out[(x, y)] = "skip"
            else:
                out[(x, y)] = (cls, best) if best >= cover else None
    return out


def exported(folder, stem):
    got = {}
    for cls in os.listdir(folder) if os.path.isdir(folder) else []:
        if not os.path.isdir(f"{folder}/{cls}"):  # (.patches.json)
            continue
        for f in os.listdir(f"{folder}/{cls}"):
            m = re.fullmatch(re.escape(stem) + r"_(\d+)_(\d+)\.jpg", f)
            if m:
                got[(int(m.group(1)), int(m.group(2)))] = cls
    return got


rng = random.Random(7)
truths = []
for trial, cover in enumerate([0.5, 0.2, 0.9]):
    ann = f"{tmp}/ann{trial}"
    os.makedirs(ann)
    xml_ann = f"{tmp}/xml{trial}"
    os.makedirs(xml_ann)
    truth = {}
    for img in slides:
        gt, stem = img.split("/")[0], os.path.splitext(os.path.basename(img))[0]
        size = slide_size(img)
        polys = []
        # Disjoint shapes (exact clipping path) in the left half; in trial 2 two overlapping
        # shapes of one class on the right (the sampled path).
        for k in range(3):
            cx, cy = 60 + k * 90, rng.uniform(100, size[1] - 100)
            cls = [classes[0], classes[1], None][k]
            polys.append((random_polygon(rng, cx, cy, 44), cls))
        if trial == 2:
            r = min(size) * 0.2
            polys.append((Polygon(star(rng, size[0] * 0.72, size[1] * 0.45, r)), classes[0]))
            polys.append((Polygon(star(rng, size[0] * 0.78, size[1] * 0.55, r)), classes[0]))
        with open(f"{ann}/{stem}.geojson", "w") as f:
            json.dump({"type": "FeatureCollection", "features": [feature(p, c) for p, c in polys]}, f)
        with open(f"{xml_ann}/{stem}.xml", "w") as f:
            f.write(asap([(Polygon(p.exterior), c) for p, c in polys]))
        truth[img] = (polys, gt, size)
    truths.append(truth)
    with open(f"{tmp}/labels{trial}.csv", "w") as f:
        f.write("img,gt\n" + "".join(f"{s},{s.split('/')[0]}\n" for s in slides))
    covered_any = False
    for kind, folder in [("geojson", ann), ("xml", xml_ann)]:
        out = f"{tmp}/patches_{kind}{trial}"
        run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/labels{trial}.csv", "--out", out, "--patch-size",
             str(PATCH), "--overlap", "2", "--level", "0", "--tissue", "none", "--annotations", folder,
             "--annotation-cover", str(cover), "--threads", "2"])
        for img, (polys, gt, size) in truth.items():
            if kind == "xml":
                polys = [(Polygon(p.exterior), c) for p, c in polys]
            stem = os.path.splitext(os.path.basename(img))[0]
            want = expected_windows(polys, gt, cover, size, PATCH // 2, PATCH)
            got = exported(out, stem)
            bad = [(w, want.get(w), got.get(w)) for w in set(want) | set(got)
                   if want.get(w) != "skip" and (want.get(w)[0] if want.get(w) else None) != got.get(w)]
            check(not bad, f"{kind} cover {cover} {img}: {len(bad)} windows differ from shapely, e.g. {bad[:3]}")
            covered_any = covered_any or any(v not in (None, "skip") for v in want.values())

    check(covered_any, f"trial {trial}: the test drew no covered window")

# Aperio ImageScope XML: shapely's reading of the committed fixture, per layer the positive
# regions minus the negative ones (xml2mask's reading), against the windows patches writes.
def aperio_polygons(path):
    polys = []
    for layer in ET.parse(path).getroot().findall("Annotation"):
        pos, neg = [], []
        for r in layer.findall("Regions/Region"):
            pts = [(float(v.get("X")), float(v.get("Y"))) for v in r.findall("Vertices/Vertex")]
            if r.get("Type") == "2":
                (x0, y0), (x1, y1) = pts
                g = scale(Point((x0 + x1) / 2, (y0 + y1) / 2).buffer(1, 1024), abs(x1 - x0) / 2,
                          abs(y1 - y0) / 2)
            else:
                g = Polygon(pts)
            cls = layer.get("Name") or r.get("Text") or None
            (neg if r.get("NegativeROA") == "1" else pos).append((g, cls))
        cut = unary_union([g for g, _ in neg]) if neg else Polygon()
        polys += [(g.difference(cut), c) for g, c in pos]
    return polys


fixture = os.path.join(os.environ.get("DS_FIXTURES", "tests/fixtures"), "annotations", "aperio_imagescope.xml")
aperio_dir = f"{tmp}/aperio"
os.makedirs(aperio_dir)
for img in slides[:2]:
    with open(fixture) as src, open(f"{aperio_dir}/{os.path.splitext(os.path.basename(img))[0]}.xml", "w") as dst:
        dst.write(src.read())
with open(f"{tmp}/labels_aperio.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{s},{s.split('/')[0]}\n" for s in slides[:2]))
apolys = aperio_polygons(fixture)
check({c for _, c in apolys} == {"tumor", "stroma", None} and any(p.interiors for p, _ in apolys),
      f"the fixture lost its classes or its hole: {[(c, len(p.interiors)) for p, c in apolys]}")
for cover in (0.3, 0.8):
    out = f"{tmp}/patches_aperio{cover}"
    run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/labels_aperio.csv", "--out", out, "--patch-size",
         str(PATCH), "--overlap", "2", "--level", "0", "--tissue", "none", "--annotations", aperio_dir,
         "--annotation-cover", str(cover), "--threads", "2"])
    for img in slides[:2]:
        gt, stem = img.split("/")[0], os.path.splitext(os.path.basename(img))[0]
        # The ellipse is a 128-gon in deepslide and a 4096-gon here: shares within 0.5% are not judged.
        want = expected_windows(apolys, gt, cover, slide_size(img), PATCH // 2, PATCH, tol=0.005)
        got = exported(out, stem)
        bad = [(w, want.get(w), got.get(w)) for w in set(want) | set(got)
               if want.get(w) != "skip" and (want.get(w)[0] if want.get(w) else None) != got.get(w)]
        check(not bad, f"aperio cover {cover} {img}: {len(bad)} windows differ from shapely, e.g. {bad[:3]}")
        check({v[0] for v in want.values() if v not in (None, "skip")} == {"tumor", "stroma", gt},
              f"aperio cover {cover}: the test covers too few classes")

# Training: the windows list holds only windows inside the class's annotations.
ann, truth = f"{tmp}/ann0", truths[0]
os.remove(f"{ann}/{os.path.splitext(os.path.basename(slides[-1]))[0]}.geojson")  # a slide without annotations
with open(f"{tmp}/lt.csv", "w") as f:
    f.write("img,gt\n" + "".join(f"{s},{s.split('/')[0]}\n" for s in slides))
wcsv = f"{tmp}/windows.csv"
run(["train", "--all-wsi", wsi, "--labels-train", f"{tmp}/lt.csv", "--labels-val", f"{tmp}/lt.csv", "--patch-size",
     "32", "--level", "0", "--tissue", "none", "--num-train-per-class", "40", "--batch-size", "8", "--max-steps", "1",
     "--threads", "2", "--workers", "1", "--checkpoint-minutes", "0", "--annotations", ann, "--annotation-cover",
     "0.5", "--windows-csv", wcsv, "--out", f"{tmp}/train"])
rows = list(csv.DictReader(open(wcsv))) if os.path.exists(wcsv) else []
check(len(rows) > 0 and {r["set"] for r in rows} == {"train", "val"}, f"windows CSV sets {({r['set'] for r in rows})}")
for r in rows:
    img = os.path.relpath(r["slide"], wsi)
    check(img != slides[-1], f"window from the slide without annotations: {r}")
    if img not in truth:
        continue
    x, y, s = int(r["x"]), int(r["y"]), int(r["side"])
    sq = box(x, y, x + s, y + s)
    polys, gt, _ = truth[img]
    u = unary_union([p for p, c in polys if (c or gt) == r["class"]] or [Polygon()])
    check(u.intersection(sq).area / sq.area >= 0.5 - 1e-6, f"window {r} covers less than half of its class")

# GeoJSON out.
side, step = 60, 20
pred = f"{tmp}/preds/slide_a.csv"
os.makedirs(f"{tmp}/preds")
grng = random.Random(3)
windows = []
with open(pred, "w") as f:
    f.write("x,y,prediction,confidence," + ",".join(f"prob_{c}" for c in classes) + "\n")
    for y in range(0, H - side + 1, step * 3):
        for x in range(0, W - side + 1, step):
            p0 = 0.9 if (x // 100 + y // 100) % 2 else 0.1
            if grng.random() < 0.2:
                p0 = 1 - p0
            k = 0 if p0 >= 0.5 else 1
            f.write(f"{x},{y},{classes[k]},{max(p0, 1 - p0):.6f},{p0:.6f},{1 - p0:.6f}\n")
            windows.append((x, y, k, p0))
run(["geojson", "--predictions", pred, "--window-side", str(side), "--geojson", "both", "--out", f"{tmp}/gj"])
gj_path = f"{tmp}/gj/slide_a.geojson"
gj = json.load(open(gj_path)) if os.path.exists(gj_path) else {"features": []}
check(gj.get("type") == "FeatureCollection", "not a FeatureCollection")
tiles = [f for f in gj["features"] if f["properties"].get("objectType") == "tile"]
contours = [f for f in gj["features"] if f["properties"].get("objectType") == "annotation"]
check(len(tiles) == len(windows), f"{len(tiles)} tile features for {len(windows)} windows")
for f, (x, y, k, p0) in zip(tiles, windows):
    ring = f["geometry"]["coordinates"][0]
    check(f["type"] == "Feature" and f["geometry"]["type"] == "Polygon" and ring[0] == ring[-1], f"tile ring {ring}")
    g = shape(f["geometry"])
    check(g.is_valid and g.equals(box(x, y, x + side, y + side)), f"tile at {x},{y}: {g.wkt}")
    check(box(0, 0, W, H).contains(g), f"tile {g.wkt} outside the slide")
    c = f["properties"]["classification"]
    check(c["name"] == classes[k] and len(c["color"]) == 3 and all(isinstance(v, int) and 0 <= v <= 255 for v in c["color"]),
          f"classification {c}")
    m = f["properties"]["measurements"]
    check(isinstance(m, dict) and abs(m[f"prob_{classes[0]}"] - p0) < 1e-5, f"measurements {m}")
for k, cls in enumerate(classes):
    mine = [f for f in contours if f["properties"]["classification"]["name"] == cls]
    want = unary_union([box(x, y, x + side, y + side) for x, y, kk, _ in windows if kk == k])
    check(len(mine) == 1, f"{len(mine)} contour features for {cls}")
    if mine:
        g = shape(mine[0]["geometry"])
        check(g.is_valid, f"contour of {cls} is not a valid geometry")
        check(g.symmetric_difference(want).area < 1e-6, f"contour of {cls} differs from shapely's union by "
              f"{g.symmetric_difference(want).area} px^2")
p = run(["geojson", "--predictions", pred, "--out", f"{tmp}/gj2"], 2)
check("window side" in error_line(p), f"no side: {error_line(p)}")
missing = os.path.join(os.path.dirname(pred), "no_such_slide.csv")  # beside a predict.json or not, the missing file is the news
p = run(["geojson", "--predictions", missing, "--out", f"{tmp}/gj3"], 2)
check(error_line(p) == f"deepslide: error: {missing}: cannot open", f"missing CSV: {error_line(p)}")

# Bad annotation files: the slide fails with one line naming the file and the feature, the
# other slides go on, and patches exits 2 at the end.
bad_dir = f"{tmp}/bad"
os.makedirs(bad_dir)
stem0 = os.path.splitext(os.path.basename(slides[0]))[0]
good = feature(Polygon([(10, 10), (100, 10), (100, 100)]), classes[0])
cases = {
    "outside": ({"type": "FeatureCollection", "features": [good, feature(Polygon([(10, 10), (W * 3, 10), (50, 90)]), None)]},
                "feature 1"),
    "line": ([good, {"type": "Feature", "geometry": {"type": "LineString", "coordinates": [[1, 1], [5, 5]]}}], "feature 1"),
    "ring": ({"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[[1, 1], [5, 5], [1, 1]]]}}, "feature 0"),
    "notjson": ("{\"type\": ", "not valid JSON"),
    "climbs": ([feature(Polygon([(10, 10), (100, 10), (100, 100)]), "../../escaped")], "path separator"),
    "xml": ('<ASAP_Annotations><Annotations><Annotation Name="a" Type="Dot" PartOfGroup="None"><Coordinates>'
            '<Coordinate Order="0" X="1" Y="1"/></Coordinates></Annotation></Annotations></ASAP_Annotations>', "feature 0"),
    "xml_dtd": ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]>'
                "<Annotations><Annotation Name='&lol2;'/></Annotations>", "DTD"),
    "xml_root": ("<Regions><Region/></Regions>", "neither ASAP"),
    "xml_aperio_arrow": ('<Annotations><Annotation Name="x"><Regions><Region Id="7" Type="3"><Vertices>'
                         '<Vertex X="1" Y="1"/><Vertex X="50" Y="50"/></Vertices></Region></Regions></Annotation>'
                         "</Annotations>", "annotation 0 ('x') region 0 (Id 7): an arrow"),
    "xml_aperio_cross": ('<Annotations><Annotation Name="x"><Regions><Region Id="1" Type="1"><Vertices>'
                         '<Vertex X="10" Y="10"/><Vertex X="100" Y="10"/><Vertex X="100" Y="100"/>'
                         '<Vertex X="10" Y="100"/></Vertices></Region><Region Id="2" NegativeROA="1"><Vertices>'
                         '<Vertex X="50" Y="50"/><Vertex X="150" Y="50"/><Vertex X="50" Y="90"/></Vertices></Region>'
                         "</Regions></Annotation></Annotations>", "crosses the outline"),
    # Two 40,000-vertex circles, one a hole in the other: 1.6e9 vertex tests to place the hole,
    # past the 2^30 budget: refused (in about 3 s) rather than hours for a larger file.
    "xml_aperio_budget": ('<Annotations><Annotation Name="t"><Regions>' + "".join(
        f'<Region Id="{i}" NegativeROA="{i - 1}"><Vertices>' + "".join(
            f'<Vertex X="{200 + r * math.cos(2 * math.pi * k / 40000):.2f}" '
            f'Y="{200 + r * math.sin(2 * math.pi * k / 40000):.2f}"/>' for k in range(40000)) + "</Vertices></Region>"
        for i, r in ((1, 150), (2, 60))) + "</Regions></Annotation></Annotations>", "vertex tests"),
}
for name, (content, needle) in cases.items():
    d = f"{bad_dir}/{name}"
    os.makedirs(d)
    ext = ".xml" if name.startswith("xml") else ".geojson"
    with open(f"{d}/{stem0}{ext}", "w") as f:
        f.write(content if isinstance(content, str) else json.dumps(content))
    p = run(["patches", "--all-wsi", wsi, "--labels", f"{tmp}/labels0.csv", "--out", f"{tmp}/pb_{name}", "--patch-size",
             str(PATCH), "--tissue", "none", "--annotations", d], 2)
    failed = [ln for ln in p.stderr.splitlines() if "FAILED" in ln]
    check(len(failed) == 1 and stem0 in failed[0] and needle in failed[0] and "1 of 4 slides failed" in error_line(p),
          f"{name}: {p.stderr.strip()}")

if failures:
    print("\n".join(failures))
    sys.exit(1)
print("annotations: ok")
