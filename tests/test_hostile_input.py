#!/usr/bin/python3
"""Hostile input, as an attacker would write it (tests/hostile_files.py): each file ends in a clean
exit-2 error naming the file, within a bounded peak RSS (measured per child with wait4), never a
signal or a hang. TIFFs whose directories claim gigabytes of tile offsets (short arrays libtiff
pads, one array shared by many directories), absurd image sides, SubIFD loops, JPEG tiles whose
frame is larger than the tile; a model file whose metadata nests JSON a million levels deep; a pipeline config whose dotted key
nests 100,000 tables;
plain images in formats other than PNG and JPEG.
Run by ctest (DEEPSLIDE set)."""
import io
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile_files  # noqa: E402
from cli_harness import DEEPSLIDE, check, failures, tempdir, write_finished_csv  # noqa: E402

MAX_RSS_MB = 400
HUGE_RSS_MB = 300  # listing the 2^20 px slide's grid alone would take 790 MB


def run_measured(args, timeout=60):
    """(exit code, stderr, peak RSS in MB) of one deepslide run; a run past `timeout` is killed
    and recorded as a failure."""
    import time
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen([DEEPSLIDE, *args], stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + timeout
        killed = False
        while True:
            pid, status, usage = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            if not killed and time.monotonic() > deadline:
                p.kill()
                killed = True
                failures.append(f"deepslide {' '.join(args)}: still running after {timeout} s")
            time.sleep(0.01)
        p.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        return p.returncode, err.read().decode(errors="replace"), usage.ru_maxrss / 1024


def expect_refused(args, name, *words):
    """Exit 2, one 'deepslide: error:' line naming `name` and each of `words`, bounded memory."""
    code, err, rss = run_measured(args)
    lines = err.strip().splitlines()
    label = "deepslide " + " ".join(args)
    check(code == 2, f"{label}: exit {code}, expected 2: {err[-500:]}")
    check(len(lines) == 1 and lines[0].startswith("deepslide: error: ") and name in lines[0],
          f"{label}: not one error line naming {name}: {err[-500:]}")
    for w in words:
        check(w in err, f"{label}: '{w}' missing from: {err[-300:]}")
    check(rss < MAX_RSS_MB, f"{label}: peak RSS {rss:.0f} MB >= {MAX_RSS_MB} MB")
    return rss


def tiff_with_jpeg_tile(jpeg, tile):
    """One 8-bit YCbCr directory of one `tile` x `tile` JPEG tile holding `jpeg` (a whole JPEG)."""
    t = hostile_files.Tiff()
    tags = hostile_files.rgb_tiled(tile, tile, [0], [len(jpeg)])
    tags[259] = (hostile_files.SHORT, [7])
    tags[262] = (hostile_files.SHORT, [6])
    t.add(tags)
    body = bytearray(t.bytes())
    # Point the one tile at the JPEG appended after everything else.
    off = len(body)
    body += jpeg
    # rgb_tiled stored the one-entry offset inline: patch it.
    n = struct.unpack_from("<H", body, 8)[0]
    for i in range(n):
        tag = struct.unpack_from("<H", body, 10 + 12 * i)[0]
        if tag == 324:
            struct.pack_into("<I", body, 10 + 12 * i + 8, off)
    return bytes(body)


def main():
    tmp = tempdir("ds_hostile_")
    hostile_files.write_all(tmp)
    f = lambda name: os.path.join(tmp, name)  # noqa: E731

    # Tile offset arrays: the file must hold them, and all directories together stay in budget.
    rss = expect_refused(["info", f("short_offset_chain.tif")], "short_offset_chain.tif", "TileOffsets lists 1 entries")
    print(f"short offset arrays: refused, peak RSS {rss:.0f} MB")
    rss = expect_refused(["info", f("shared_offset_arrays.tif")], "shared_offset_arrays.tif", "passes 256 MB")
    print(f"shared offset arrays: refused, peak RSS {rss:.0f} MB")
    expect_refused(["info", f("huge_side.tif")], "huge_side.tif")
    expect_refused(["read-region", f("huge_side.tif"), "--x", "0", "--y", "0", "--level", "0", "--width", "16",
                    "--height", "16", "--out", f("r.png")], "huge_side.tif")
    expect_refused(["info", f("subifd_storm.tif")], "subifd_storm.tif", "a loop")

    # A JPEG tile whose frame is larger than the tile the directory declares.
    from PIL import Image
    buf = io.BytesIO()
    Image.new("RGB", (256, 256), (200, 100, 150)).save(buf, format="JPEG", progressive=True)
    with open(f("big_frame.tif"), "wb") as out:
        out.write(tiff_with_jpeg_tile(buf.getvalue(), 16))
    expect_refused(["read-region", f("big_frame.tif"), "--x", "0", "--y", "0", "--level", "0", "--width", "16",
                    "--height", "16", "--out", f("r.png")], "big_frame.tif", "larger than the 16x16 declared")
    check(not os.path.exists(f("r.png")), "read-region wrote an output for a refused slide")

    # Model metadata nested a million levels deep.
    hostile_files.deep_json_model(f("deep1m.safetensors"), depth=1_000_000)
    Image.new("RGB", (32, 32)).save(f("patch.png"))
    expect_refused(["classify", "--model", f("deep1m.safetensors"), f("patch.png")], "deep1m.safetensors",
                   "nested deeper than")

    # A pipeline config whose dotted key nests 100,000 tables (a fuzz finding: toml++ overflowed
    # the stack on it).
    with open(f("deep_keys.toml"), "wb") as fh:
        fh.write(hostile_files.deep_toml_keys())
    expect_refused(["run", "--config", f("deep_keys.toml"), "--workdir", f("work")], "deep_keys.toml",
                   "nested deeper than")

    # Plain images: PNG and JPEG only (stb_image's other decoders are compiled out).
    Image.new("RGB", (32, 32)).save(f("patch.gif"))
    Image.new("RGB", (32, 32)).save(f("patch.bmp"))
    run_measured(["init-model", "--arch", "resnet18", "--classes", "a,b", "--patch-size", "32",
                  "--out", f("m.safetensors")])
    for name in ("patch.gif", "patch.bmp"):
        expect_refused(["classify", "--model", f("m.safetensors"), f(name)], name, "not a PNG or JPEG")

    # Label CSVs whose names would put outputs outside --out, and lines without end.
    wsi = os.path.join(tmp, "wsi")
    code, err, _ = run_measured(["synth", "--out", wsi, "--classes", "2", "--slides-per-class", "1", "--width", "400",
                                 "--height", "300"])
    check(code == 0, "synth failed: " + err[-300:])
    out = os.path.join(tmp, "out")
    for name, row, words in [("escape_class.csv", "glandular/glandular_000.tif,../../../somewhere", "path separator"),
                             ("dotdot_class.csv", "glandular_000.tif,..", "is '..'"),
                             ("abs_slide.csv", "/etc/passwd,a", "absolute path"),
                             ("climb_slide.csv", "a/../../../../etc/passwd,a", "climbs out"),
                             ("control_class.csv", "glandular/glandular_000.tif,gl\x1b[31mand", "control character")]:
        with open(f(name), "w") as fh:
            fh.write("img,gt\n" + row + "\n")
        for cmd in (["patches", "--all-wsi", wsi, "--labels", f(name), "--out", out],
                    ["predict", "--model", f("m.safetensors"), "--all-wsi", wsi, "--labels", f(name), "--out", out]):
            expect_refused(cmd, name, "line 2", *words)
    check(not os.path.exists(os.path.join(tmp, "somewhere")) and not os.path.exists("/somewhere"),
          "an output escaped --out")
    with open(f("long_line.csv"), "w") as fh:
        fh.write("img,gt\n" + "a" * 200000 + ",b\n")
    expect_refused(["patches", "--all-wsi", wsi, "--labels", f("long_line.csv"), "--out", out], "long_line.csv",
                   "line 2 is longer than")
    expect_refused(["init-model", "--arch", "resnet18", "--classes", "../up,b", "--out", f("bad.safetensors")],
                   "", "path separator")

    # A batch of no windows is refused before any slide is read or anything is written.
    with open(f("one_slide.csv"), "w") as fh:
        fh.write("img,gt\nglandular/glandular_000.tif,glandular\n")
    empty_out = f("batch0_out")
    expect_refused(["predict", "--model", f("m.safetensors"), "--all-wsi", wsi, "--labels", f("one_slide.csv"),
                    "--out", empty_out, "--batch-size", "0"], "--batch-size", "at least 1")
    check(not os.path.exists(empty_out), "predict --batch-size 0 wrote into --out before refusing")
    expect_refused(["calibrate", "--model", f("m.safetensors"), "--out", f("cal.safetensors"), "--batch-size", "0",
                    f("patch.png")], "--batch-size", "at least 1")
    check(not os.path.exists(f("cal.safetensors")), "calibrate --batch-size 0 wrote a model")
    # Values that mean nothing are refused rather than read as a default.
    predict_one = ["predict", "--model", f("m.safetensors"), "--all-wsi", wsi, "--labels", f("one_slide.csv"), "--out",
                   empty_out]
    expect_refused(predict_one + ["--mpp", "0"], "--mpp", "must be positive")
    expect_refused(predict_one + ["--precision", "int4"], "--precision", "auto")
    expect_refused(["--threads", "-3", "info", f("patch.png")], "--threads", "negative")
    expect_refused(["predict", "--model", f("m.safetensors"), "--all-wsi", f("no_such_wsi"), "--labels",
                    f("one_slide.csv"), "--out", empty_out], "no_such_wsi", "no such folder")
    check(not os.path.exists(empty_out), "a refused predict wrote into --out")



    # A legal slide that declares 2^20 px a side (8 MB of tile tables, every tile absent): the
    # window grid (49 million windows at 224 px and overlap 1.5, whose list alone would take
    # 790 MB) is walked in bands, never listed, so patches and predict's tissue scan stay within a
    # few hundred MB.
    hw = os.path.join(tmp, "huge_wsi")
    os.makedirs(os.path.join(hw, "a"))
    shutil.copy(f("huge_declared.tif"), os.path.join(hw, "a", "huge.tif"))
    with open(f("huge_labels.csv"), "w") as fh:
        fh.write("img,gt\na/huge.tif,a\n")
    code, err, rss = run_measured(["patches", "--all-wsi", hw, "--labels", f("huge_labels.csv"), "--out", f("huge_out"),
                                   "--tissue", "otsu"], timeout=300)
    check(code == 0 and "0 of 49294441 windows kept" in err, f"patches on a 2^20 px slide: exit {code}: {err[-500:]}")
    check(rss < HUGE_RSS_MB, f"patches on a 2^20 px slide: peak RSS {rss:.0f} MB >= {HUGE_RSS_MB} MB")
    print(f"patches, 2^20 px slide, otsu: peak RSS {rss:.0f} MB")
    run_measured(["init-model", "--arch", "resnet18", "--classes", "a,b", "--out", f("m224.safetensors")])
    code, err, rss = run_measured(["predict", "--model", f("m224.safetensors"), "--all-wsi", hw, "--labels",
                                   f("huge_labels.csv"), "--out", f("huge_preds"), "--tissue", "otsu",
                                   "--overlap", "1.5"], timeout=300)
    check(code == 0, f"predict on a 2^20 px slide: exit {code}: {err[-500:]}")
    check(rss < HUGE_RSS_MB, f"predict's tissue scan on a 2^20 px slide: peak RSS {rss:.0f} MB >= {HUGE_RSS_MB} MB")
    print(f"predict (tissue scan), 2^20 px slide, otsu: peak RSS {rss:.0f} MB")

    # A FIFO named as a slide is refused at once (opening it would wait for a writer for ever).
    fifo = f("fifo.tif")
    os.mkfifo(fifo)
    expect_refused(["info", fifo], "fifo.tif", "not a regular file")

    # predict.json's slide names become output names: one plain name each, and a window side no
    # wider than a slide can be.
    gj = os.path.join(tmp, "gj")
    os.makedirs(gj)

    write_finished_csv(os.path.join(gj, "x.csv"), "x,y,prediction,confidence,prob_a,prob_b\n0,0,a,0.9,0.9,0.1\n")
    for key, side, why in (("../../evil", 32, "path separator"), ("x", 1 << 62, "no window_side")):
        with open(os.path.join(gj, "predict.json"), "w") as fh:
            json.dump({"slides": {key: {"csv": "x.csv", "window_side": side}}}, fh)
        expect_refused(["geojson", "--predictions", os.path.join(gj, "predict.json"), "--out", f("gj_out")],
                       "predict.json", why)
    check(not os.path.exists(os.path.join(tmp, "evil.geojson")), "geojson wrote outside --out")
    # Contours of windows 17 grid steps wide are refused, and the error names the CSV they came from.
    with open(os.path.join(gj, "predict.json"), "w") as fh:
        json.dump({"slides": {"x": {"csv": "wide.csv", "window_side": 32 * 17}}}, fh)
    write_finished_csv(os.path.join(gj, "wide.csv"),
                  "x,y,prediction,confidence,prob_a,prob_b\n0,0,a,0.9,0.9,0.1\n32,0,a,0.9,0.9,0.1\n")
    expect_refused(["geojson", "--predictions", os.path.join(gj, "predict.json"), "--out", f("gj_wide"), "--geojson",
                    "contours"], "wide.csv", "too many cells")

    # A model file of gigabytes (sparse) whose header does not describe its data: refused after
    # the header is read, without reading the rest.
    big = f("big.safetensors")
    header = json.dumps({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    with open(big, "wb") as fh:
        fh.write(struct.pack("<Q", len(header)) + header)
    os.truncate(big, 3 << 30)
    rss = expect_refused(["classify", "--model", big, f("patch.png")], "big.safetensors", "unexpected bytes")
    check(rss < 300, f"a sparse 3 GB model file cost {rss:.0f} MB to refuse")
    print(f"3 GB model file with a short header: refused, peak RSS {rss:.0f} MB")

    # Prediction CSVs: a line without end is refused; a byte order mark before the header is skipped.
    preds = os.path.join(tmp, "preds")
    os.makedirs(preds)
    head = "x,y,prediction,confidence,prob_a,prob_b\n"
    with open(os.path.join(preds, "s1.tif.csv"), "w") as fh:
        fh.write(head + "0,0,a," + "0" * 200000 + "\n")
    with open(os.path.join(preds, "s2.tif.csv"), "wb") as fh:
        fh.write(b"\xef\xbb\xbf" + head.encode() + b"0,0,b,0.9,0.1,0.9\n")
    with open(f("preds_labels.csv"), "w") as fh:
        fh.write("img,gt\ns1.tif,a\ns2.tif,b\n")
    expect_refused(["search", "--preds", preds, "--labels", f("preds_labels.csv"), "--out", f("search")], "s1.tif.csv",
                   "line 2 is longer than")
    with open(os.path.join(preds, "s1.tif.csv"), "w") as fh:
        fh.write(head + "0,0,a,0.8,0.8,0.2\n")
    code, err, _ = run_measured(["search", "--preds", preds, "--labels", f("preds_labels.csv"), "--out", f("search")])
    check(code == 0, "search refused a prediction CSV with a byte order mark: " + err[-300:])
    with open(f("typo_labels.csv"), "w") as fh:
        fh.write("img,gt\ns1.tif,a\ns2.tif,bb\n")
    expect_refused(["search", "--preds", preds, "--labels", f("typo_labels.csv"), "--out", f("search_typo")],
                   "typo_labels.csv", "'bb' is not one of the prediction CSVs' classes (a, b)")

    # A command-line value of 100000 characters: one error line naming the option, the value cut.
    expect_refused(["bench-read", f("patch.png"), "--count", "9" * 100000], "--count", "more characters",
                   "--help lists the options")
    code, err, _ = run_measured(["bench-read", f("patch.png"), "--count", "9" * 100000])
    check(len(err) < 1000, f"an error line of {len(err)} characters for a long command-line value")

    # 64-bit options: a value past their range is refused, not saturated (CLI11 alone kept INT64_MAX
    # and wrote a white region); a negative seed is not wrapped to 2^64 - 1.
    for y in ["99999999999999999999", "-99999999999999999999"]:
        expect_refused(["read-region", f("patch.png"), "--x", "0", "--y", y, "--width", "4", "--height", "4",
                        "--out", f("never.png")], "--y", "out of range")
    check(not os.path.exists(f("never.png")), "read-region wrote a region for an out-of-range --y")
    expect_refused(["init-model", "--arch", "resnet18", "--classes", "a,b", "--seed", "-1",
                    "--out", f("never.safetensors")], "--seed", "negative")

    # An error that quotes a 40000-character path stays one bounded line.
    code, err, _ = run_measured(["read-region", f("patch.png"), "--x", "0", "--y", "0", "--width", "4", "--height",
                                 "4", "--out", os.path.join(f("no_such_dir"), "d" * 40000, "x.png")])
    check(code == 2 and len(err) < 5000 and len(err.strip().splitlines()) == 1,
          f"a 40000-character output path: exit {code}, {len(err)} characters of error")

    if failures:
        print("\n".join(failures))
        sys.exit(1)
    print("hostile input: all refused cleanly")


if __name__ == "__main__":
    main()
