# `deepslide serve` over HTTP: Deep Zoom geometry against OpenSlide's DeepZoomGenerator (levels,
# sizes, tile grid, each tile's size), every PNG tile checked exactly against `read-region` of the
# same area averaged as serve/deep_zoom.h defines it (q x q block means, rounded), JPEG tiles close
# to the PNG ones and to OpenSlide's own Deep Zoom tiles, the JSON endpoints against the run
# files they come from (hand-written from docs/formats.md, and real `predict` and `diagnose`
# output), bad requests (unknown slide, `..` in every spelling, levels and
# coordinates out of range, other methods, overlong URLs) answered 4xx with no file's contents,
# the token rules, parallel requests, and start-up errors (exit 2, one line).
import concurrent.futures
import csv
import io
import json
import math
import os
import select
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import openslide
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cli_harness as h  # noqa: E402
from serve_harness import DEEPSLIDE, Server, serving  # noqa: E402

FIX = os.environ.get("DS_FIXTURES", os.path.join(os.path.dirname(__file__), "fixtures"))
TOKEN = "s3cret-token_for.tests~1"


def smooth_pattern(w, h, seed):
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        a, b, p = rng.uniform(0.01, 0.08, 3)
        img[..., c] = 128 + 90 * np.sin(a * x + p * 7) * np.cos(b * y)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def read_region(path, x, y, level, w, h, tmp):
    out = os.path.join(tmp, "rr.png")
    subprocess.run([DEEPSLIDE, "read-region", path, "--x", str(x), "--y", str(y), "--level", str(level),
                    "--width", str(w), "--height", str(h), "--out", out], check=True, capture_output=True)
    return np.asarray(Image.open(out).convert("RGB")).astype(np.int64)


def dz_level_count(w, hgt):
    n = 1
    while w > 1 or hgt > 1:
        w, hgt, n = (w + 1) // 2, (hgt + 1) // 2, n + 1
    return n


def level0(lx, d):
    """A level-0 coordinate that read-region maps back to level pixel lx (it floors x / d)."""
    if d == 1:
        return lx
    x = math.ceil(lx * d - 1e-7)
    while math.floor(x / d) < lx:
        x += 1
    while x > 0 and math.floor((x - 1) / d) >= lx:
        x -= 1
    return x


def block_means(path, osr, width, height, level, col, row, tmp):
    s = 2 ** (dz_level_count(width, height) - 1 - level)
    lv = osr.get_best_level_for_downsample(s)
    d = osr.level_downsamples[lv]
    q = int(round(s / d))
    W, H = osr.level_dimensions[lv]
    # serve/deep_zoom.h: block means when the level is level 0 scaled by q / s, give or take a pixel
    assert q >= 1 and abs(W - width * q / s) <= 1 and abs(H - height * q / s) <= 1, (path, level, s, d, W, H)
    lw, lh = -(-width // s), -(-height // s)
    x0, y0 = col * 254 - (1 if col else 0), row * 254 - (1 if row else 0)
    x1, y1 = min(lw, (col + 1) * 254 + 1), min(lh, (row + 1) * 254 + 1)

    def spans(i0, i1, n):
        i = np.arange(i0, i1)
        a = np.minimum(i * q, n - 1)
        return a, np.maximum(np.minimum((i + 1) * q, n), a + 1)

    ax, bx = spans(x0, x1, W)
    ay, by = spans(y0, y1, H)
    ox, oy = ax[0], ay[0]
    src = read_region(path, level0(ox, d), level0(oy, d), lv, bx[-1] - ox, by[-1] - oy, tmp)
    S = np.zeros((src.shape[0] + 1, src.shape[1] + 1, 3), np.int64)
    S[1:, 1:] = src.cumsum(0).cumsum(1)
    ax, bx, ay, by = ax - ox, bx - ox, ay - oy, by - oy
    tot = (S[by][:, bx] - S[ay][:, bx] - S[by][:, ax] + S[ay][:, ax])
    n = ((by - ay)[:, None] * (bx - ax)[None, :])[..., None]
    return ((tot + n // 2) // n).astype(np.uint8), q


def decode(body):
    return np.asarray(Image.open(io.BytesIO(body)).convert("RGB"))


def check_tiles(srv, sid, path, tmp):
    """Geometry against DeepZoomGenerator, exact PNG tiles, JPEG tiles near them and near OpenSlide's."""
    st, _, body = srv.get(f"/slides/{sid}.dzi")
    h.check(st == 200, f"{sid}: dzi {st}")
    root = ET.fromstring(body)
    ns = "{http://schemas.microsoft.com/deepzoom/2008}"
    size = root.find(ns + "Size")
    width, height = int(size.get("Width")), int(size.get("Height"))
    ts, ov = int(root.get("TileSize")), int(root.get("Overlap"))
    osr = openslide.OpenSlide(path)
    dzg = DeepZoomGenerator(osr, tile_size=ts, overlap=ov, limit_bounds=False)
    h.check((width, height) == osr.dimensions and root.get("Format") == "jpeg", f"{sid}: dzi {width}x{height}")
    n = dz_level_count(width, height)
    h.check(n == dzg.level_count, f"{sid}: {n} levels, OpenSlide {dzg.level_count}")
    worst, psnrs = 0.0, []
    for level in sorted({n - 1, n - 2, n - 3, max(0, n - 5), 0}):
        cols, rows = dzg.level_tiles[level]
        st, _, _ = srv.get(f"/slides/{sid}_files/{level}/{cols}_0.jpeg")
        h.check(st == 404, f"{sid}: column {cols} of level {level} (one past the last) gave {st}")
        for col, row in {(0, 0), (cols - 1, rows - 1), (cols // 2, rows // 2), (cols - 1, 0)}:
            st, hd, png = srv.get(f"/slides/{sid}_files/{level}/{col}_{row}.png")
            h.check(st == 200 and hd.get("content-type") == "image/png", f"{sid} {level}/{col}_{row}.png: {st}")
            if st != 200:
                continue
            got = decode(png)
            want, q = block_means(path, osr, width, height, level, col, row, tmp)
            if got.shape != want.shape or not np.array_equal(got, want):
                diff = np.abs(got.astype(int) - want.astype(int)).max() if got.shape == want.shape else "shape"
                h.check(False, f"{sid} {level}/{col}_{row}: tile {got.shape} != read-region means {want.shape} ({diff})")
            st, hd, jpg = srv.get(f"/slides/{sid}_files/{level}/{col}_{row}.jpeg")
            h.check(st == 200 and hd.get("content-type") == "image/jpeg", f"{sid} {level}/{col}_{row}.jpeg: {st}")
            j = decode(jpg)
            tw, th = dzg.get_tile_dimensions(level, (col, row))
            h.check(j.shape == got.shape == (th, tw, 3), f"{sid} {level}/{col}_{row}: jpeg {j.shape}, png {got.shape}, "
                                                        f"OpenSlide's DeepZoomGenerator says {tw}x{th}")
            if j.shape != got.shape:
                continue
            # JPEG (quality 85, 4:2:0) against the lossless tile: every tile above 20 dB (small tiles
            # of fine detail lose most), their mean above 30 dB.
            mse = np.mean((j.astype(float) - got) ** 2)
            psnr = 99 if mse == 0 else 10 * math.log10(255 ** 2 / mse)
            psnrs.append(psnr)
            h.check(psnr > 20, f"{sid} {level}/{col}_{row}: JPEG at {psnr:.1f} dB from the PNG tile")
            # OpenSlide's own tile where both read the same area (the level's downsample times q is
            # the Deep Zoom one exactly) and resample little: equal where neither resamples (q = 1),
            # within 2 grey levels at q = 2 (its Lanczos against our block mean). Its thumbnail()
            # keeps the aspect ratio, so some of its tiles are a pixel short: those are not compared.
            osd = np.asarray(dzg.get_tile(level, (col, row)).convert("RGB"))
            exact_d = osr.level_downsamples[osr.get_best_level_for_downsample(2 ** (n - 1 - level))] * q == 2 ** (n - 1 - level)
            if q <= 2 and exact_d and osd.shape == got.shape:
                mad = np.mean(np.abs(got.astype(float) - osd))
                worst = max(worst, mad)
                h.check(mad <= (0.5 if q == 1 else 2.0), f"{sid} {level}/{col}_{row}: mean |ours - OpenSlide| = {mad:.2f}")
    h.check(np.mean(psnrs) > 30, f"{sid}: JPEG tiles at {np.mean(psnrs):.1f} dB from the PNG ones on average")
    print(f"{sid}: {n} levels, PNG tiles equal to read-region's block means; JPEG {np.mean(psnrs):.1f} dB; "
          f"worst mean |tile - OpenSlide DeepZoom tile| where comparable: {worst:.2f}")


def write_csv(path, classes, rows):
    """A prediction CSV and the key file predict (or diagnose) writes once it is finished."""
    text = "x,y,prediction,confidence," + ",".join("prob_" + c for c in classes) + "\n"
    for x, y, p in rows:
        k = int(np.argmax(p))
        text += f"{x},{y},{classes[k]},{p[k]:.6f}," + ",".join(f"{v:.6f}" for v in p) + "\n"
    h.write_finished_csv(path, text)


def make_runs(tmp, synth_slide):
    """A predict output folder and a diagnose output folder written by hand from docs/formats.md."""
    rng = np.random.default_rng(3)
    classes = ["glandular", "lymphoid", "solid"]
    rows = [(x, y, rng.dirichlet([1, 1, 1])) for y in range(0, 600, 74) for x in range(0, 900, 74)]
    pred = os.path.join(tmp, "pred")
    os.makedirs(pred)
    name = "solid%2Fsolid_000.tif"
    write_csv(os.path.join(pred, name + ".csv"), classes, rows)
    with open(os.path.join(pred, "predict.json"), "w") as f:
        json.dump({"classes": classes, "slides": {name: {"img": "solid_000.tif", "gt": "solid", "path": synth_slide,
                                                         "csv": name + ".csv", "window_side": 224}}}, f)
    diag = os.path.join(tmp, "diag")
    one = os.path.join(diag, "solid_000")
    os.makedirs(one)
    drows = [(x, y, rng.dirichlet([1, 1])) for y in range(0, 400, 200) for x in range(0, 800, 200)]
    write_csv(os.path.join(one, "windows.csv"), ["benign", "tumor"], drows)
    result = {"slide": synth_slide, "diagnosis": "tumor", "confidence": 0.75, "scores": {"benign": 0.25, "tumor": 0.75},
              "windows": len(drows), "tissue_mm2": 0.4, "seconds": 1.0, "out": one}
    with open(os.path.join(one, "diagnosis.json"), "w") as f:
        json.dump({"result": result, "key": {"patch_size": 100, "level": 1}}, f)
    return pred, rows, classes, diag, drows, result


def check_json(srv, pred, pred_rows, classes, diag_rows, result, ann):
    st, _, body = srv.get("/api/slides")
    slides = json.loads(body)
    by_src = {s["predictions"]: s for s in slides}
    h.check(st == 200 and "predict" in by_src and "diagnose" in by_src, f"/api/slides: {st} {slides}")
    if "predict" not in by_src or "diagnose" not in by_src:
        return
    p = json.loads(srv.get(f"/api/slides/{by_src['predict']['id']}/predictions")[2])
    h.check(p["classes"] == classes and p["window_side"] == 224 and p["diagnosis"] is None, f"predict run: {p['classes']}")
    h.check(len(p["windows"]) == len(pred_rows), f"{len(p['windows'])} windows, CSV has {len(pred_rows)}")
    for w, (x, y, pr) in zip(p["windows"], pred_rows):
        ok = w[0] == x and w[1] == y and w[2] == int(np.argmax(pr)) and np.allclose(w[3:], pr, atol=1e-4 + 1e-6)
        h.check(ok, f"window {w} != CSV row {x},{y},{pr}")
    h.check(len(p["colors"]) == 3 and all(c.startswith("#") and len(c) == 7 for c in p["colors"]), f"{p['colors']}")
    d = json.loads(srv.get(f"/api/slides/{by_src['diagnose']['id']}/predictions")[2])
    # diagnose's key: 100 px patches read at level 1 (downsample 2) -> 200 level-0 pixels a side
    # (no server path goes to a client: the slide's file name, no output folder)
    seen = dict(result, slide=os.path.basename(result["slide"]))
    del seen["out"]
    h.check(d["window_side"] == 200 and d["diagnosis"] == seen and len(d["windows"]) == len(diag_rows),
            f"diagnose run: side {d['window_side']}, diagnosis {d['diagnosis']}")
    h.check(by_src["diagnose"]["diagnosis"] == "tumor", f"slide list diagnosis {by_src['diagnose']['diagnosis']}")
    pyr = [s for s in slides if s["name"] == "pyr.tif"][0]
    h.check(pyr["annotations"] is True and pyr["mpp_x"] is not None, f"pyr.tif entry {pyr}")
    a = json.loads(srv.get(f"/api/slides/{pyr['id']}/annotations")[2])
    want = [[[float(x), float(y)] for x, y in ring + [ring[0]]] for ring in ann]
    got = a["features"][0]["geometry"]["coordinates"] if a.get("features") else None
    h.check(got == want and a["features"][0]["properties"]["name"] == "tumor", f"annotations {a}")
    none = json.loads(srv.get(f"/api/slides/{by_src['predict']['id']}/annotations")[2])
    h.check(none == {"type": "FeatureCollection", "features": []}, f"slide without annotations: {none}")
    # A CSV that predict did not finish (its key file gone, as a stopped redo leaves it): no
    # windows, and why. Checked per request: the server was started while the key file existed.
    key = [os.path.join(pred, f) for f in os.listdir(pred) if f.endswith(".key.json")]
    for k in key:
        os.rename(k, k + ".away")
    r = json.loads(srv.get(f"/api/slides/{by_src['predict']['id']}/predictions")[2])
    h.check(r["windows"] == [] and "no key file" in r.get("refused", ""), f"unfinished CSV served: {r.get('refused')}")
    for k in key:
        os.rename(k + ".away", k)
    r = json.loads(srv.get(f"/api/slides/{by_src['predict']['id']}/predictions")[2])
    h.check(len(r["windows"]) == len(pred_rows) and "refused" not in r, "windows not back with the key file")


def check_bad_requests(srv, slide_path, sid, top):
    secret = open("/etc/passwd", "rb").read()[:12]
    bad = [
        "/slides/nope.dzi", "/slides/nope_files/0/0_0.jpeg", "/api/slides/nope/predictions",
        f"/slides/{sid}_files/{top + 1}/0_0.jpeg", f"/slides/{sid}_files/999/0_0.jpeg",
        f"/slides/{sid}_files/{top}/9999999999_0.jpeg", f"/slides/{sid}_files/{top}/0_9999999999.jpeg",
        f"/slides/{sid}_files/{top}/99999999999999999999999_0.jpeg", f"/slides/{sid}_files/{top}/-1_0.jpeg",
        f"/slides/{sid}_files/-1/0_0.jpeg", f"/slides/{sid}_files/{top}/0_0.gif", f"/slides/{sid}_files/{top}/a_b.jpeg",
        "/slides/../../../../etc/passwd", "/static/../../../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd",
        "/slides/..%2f..%2f..%2fetc%2fpasswd", "//etc/passwd", "/etc/passwd", "/api/slides/../../etc/passwd/predictions",
        "/static/..", "/static/openseadragon.min.js.map", "/static/%2fetc%2fpasswd", "/slides/" + slide_path,
        "/slides/" + slide_path.replace("/", "%2f"), f"/slides/{sid}_files/{top}/0_0.jpeg/../../../etc/passwd",
        "/slides/" + "a" * 10000 + ".dzi", "/slides/" + "a" * 8000 + ".dzi", "/static/" + "x/" * 3000,
        f"/slides/{sid}_files/{top}/" + "1" * 7000 + "_0.jpeg",
    ]
    for path in bad:
        st, _, body = srv.get(path)
        h.check(400 <= st < 500, f"GET {path[:80]}: {st}, expected 4xx")
        h.check(secret not in body and len(body) < 4096, f"GET {path[:80]}: body of {len(body)} bytes")
    for method in ["POST", "PUT", "DELETE"]:
        st, _, _ = srv.get("/api/slides", method=method)
        h.check(st == 405, f"{method} /api/slides: {st}")
    h.check(srv.alive(), "server died on bad requests")


def check_parallel(srv, sid, top):
    paths = [f"/slides/{sid}_files/{top - 1}/{c}_{r}.jpeg" for c in range(2) for r in range(2)] * 12
    with concurrent.futures.ThreadPoolExecutor(16) as ex:
        res = list(ex.map(srv.get, paths))
    h.check(all(r[0] == 200 for r in res), f"parallel: {[r[0] for r in res]}")
    first = {}
    for p, r in zip(paths, res):
        first.setdefault(p, r[2])
        h.check(first[p] == r[2], f"parallel: {p} answered with different bytes")


def check_token(slide):
    p = subprocess.run([DEEPSLIDE, "serve", "--bind", "0.0.0.0", slide], capture_output=True, text=True, timeout=20)
    h.check(p.returncode == 2 and "--token" in p.stderr and len(p.stderr.strip().splitlines()) == 1,
            f"--bind 0.0.0.0 without --token: exit {p.returncode} {p.stderr}")
    p = subprocess.run([DEEPSLIDE, "serve", "--bind", "0.0.0.0", "--token", "short", slide], capture_output=True, text=True)
    h.check(p.returncode == 2 and "16" in p.stderr, f"short token: exit {p.returncode} {p.stderr}")
    srv = Server("--token", TOKEN, slide)
    try:
        h.check(srv.url.endswith("?token=" + TOKEN), f"printed URL {srv.url}")
        h.check(srv.get("/api/slides")[0] == 401, "no token: not 401")
        h.check(srv.get("/")[0] == 401, "page without token: not 401")
        h.check(srv.get("/api/slides", headers={"Authorization": "Bearer wrong-token-000000"})[0] == 401, "wrong bearer")
        h.check(srv.get("/api/slides", headers={"Authorization": "Bearer " + TOKEN})[0] == 200, "bearer refused")
        st, hd, _ = srv.get("/?token=" + TOKEN)
        cookie = hd.get("set-cookie", "")
        name = f"deepslide_token_{srv.port}"  # named after the port: browsers share a host's cookies across ports
        h.check(st == 200 and cookie.startswith(f"{name}={TOKEN}") and "HttpOnly" in cookie, f"?token: {st} {cookie}")
        h.check(srv.get("/api/slides", headers={"Cookie": f"a=b; {name}={TOKEN}"})[0] == 200, "cookie refused")
        h.check(srv.get("/api/slides", headers={"Cookie": f"{name}=x{TOKEN}"})[0] == 401, "bad cookie taken")
        h.check(srv.get("/api/slides", headers={"Cookie": f"deepslide_token_{srv.port + 1}={TOKEN}"})[0] == 401,
                "another port's cookie taken")
    finally:
        code, err = srv.stop()
        h.check(code == 0, f"token server exit {code}: {err[-300:]}")


def check_hostile_clients(slide, tile_path):
    """Requests that would tie up or mislead the server: many byte ranges (each copied into one
    multipart reply in memory) 416; a body (never read, so it would be taken for the next request)
    400 and the connection closed without answering the smuggled request; a second server on the
    port in use refused (SO_REUSEPORT would share it); SIGTERM while a client trickles a request
    still stops the server, exit 0, within seconds."""
    import socket
    import time
    srv = Server("--serve-threads", "2", slide)
    try:
        st, _, body = srv.get(tile_path, headers={"Range": "bytes=" + ",".join(["0-"] * 200)})
        h.check(st == 416 and len(body) < 200, f"200 byte ranges: {st}, {len(body)} bytes")
        st, hd, body = srv.get(tile_path, headers={"Range": "bytes=0-9"})
        h.check(st == 206 and len(body) == 10, f"one byte range: {st}, {len(body)} bytes")
        smuggled = b"GET /static/nope HTTP/1.1\r\nHost: x\r\n\r\n"
        with socket.create_connection((srv.host, srv.port), timeout=15) as c:
            c.sendall(b"GET /api/slides HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
            got = b""
            while True:
                d = c.recv(65536)
                if not d:
                    break
                got += d
        h.check(got.startswith(b"HTTP/1.1 400") and got.count(b"HTTP/1.1 ") == 1,
                f"a GET with a body: {got[:120]!r}, {got.count(b'HTTP/1.1 ')} answers")
        try:
            p = subprocess.run([DEEPSLIDE, "serve", "--port", str(srv.port), slide], capture_output=True, text=True,
                               timeout=10)
            h.check(p.returncode == 2 and "cannot listen there" in p.stderr, f"a second server on the port: {p.returncode}")
        except subprocess.TimeoutExpired:
            h.check(False, "a second server on the port in use started (and shared it)")
        slow = [socket.create_connection((srv.host, srv.port), timeout=15) for _ in range(3)]  # > the 2 threads
        for c in slow:
            c.sendall(b"GET /api/slides HTTP/1.1\r\nHost: x\r\n")
        t0 = time.monotonic()
        srv.proc.send_signal(15)
        for i in range(16):
            time.sleep(0.5)
            try:
                for c in slow:
                    c.sendall(b"X-a%d: b\r\n" % i)
            except OSError:
                pass
            if srv.proc.poll() is not None:
                break
        code, err = srv.stop()
        for c in slow:
            c.close()
        h.check(code == 0 and time.monotonic() - t0 < 6,
                f"SIGTERM with a slow client: exit {code} after {time.monotonic() - t0:.1f} s {err[-200:]}")
    finally:
        srv.stop()


def check_stuck_clients(slide):
    """Clients that hold the only worker (--serve-threads 1) without finishing: a request trickled a
    header line at a time, an answer never read, requests each finished just in time on one
    keep-alive connection, endless header lines. The connection guard closes each (after
    --request-timeout 2 s; the keep-alive one after 4 s, when another client waits; past 1 MiB of
    headers), the server's memory stays bounded, and the waiting or next client is answered."""
    import socket
    import time
    srv = Server("--serve-threads", "1", "--request-timeout", "2", slide)

    def answered_soon():
        t0 = time.monotonic()
        with socket.create_connection((srv.host, srv.port), timeout=10) as c:
            c.sendall(b"GET /api/slides HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return c.recv(12) == b"HTTP/1.1 200" and time.monotonic() - t0 < 5

    def rss_mb():
        with open(f"/proc/{srv.proc.pid}/status") as f:
            return int(f.read().split("VmRSS:")[1].split()[0]) // 1024
    try:
        with socket.create_connection((srv.host, srv.port), timeout=10) as c:
            c.sendall(b"GET /api/slides HTTP/1.1\r\nHost: x\r\n")
            t0 = time.monotonic()
            closed = None
            for i in range(60):
                time.sleep(0.2)
                try:
                    c.sendall(b"X-a%d: b\r\n" % i)
                    if select.select([c], [], [], 0)[0] and c.recv(64) == b"":
                        closed = time.monotonic() - t0
                        break
                except OSError:
                    closed = time.monotonic() - t0
                    break
        h.check(closed is not None and 1.5 < closed < 6, f"a trickled request closed after {closed} s (want ~2 s)")
        h.check(answered_soon(), "no answer after the trickled request")
        with socket.socket() as c:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)  # the answer (~200 KB) stays queued
            c.connect((srv.host, srv.port))
            c.sendall(b"GET /static/openseadragon.min.js HTTP/1.1\r\nHost: x\r\n\r\n")
            time.sleep(3.5)
            h.check(answered_soon(), "no answer while an earlier answer is not being read")
        # A client that finishes each request just in time, over and over on one keep-alive
        # connection, while another waits for the only thread: the waiting one is answered (its
        # connection not closed for waiting), once the first has been open over 2 x the timeout.
        import threading
        stop = threading.Event()

        def just_in_time():
            with socket.create_connection((srv.host, srv.port), timeout=10) as c:
                while not stop.is_set():
                    for part in (b"GET /api/slides HTTP/1.1\r\nHost: x\r\n", b"X-a: b\r\n", b"\r\n"):
                        c.sendall(part)
                        time.sleep(0.6)
                    head = b""
                    while b"\r\n\r\n" not in head:
                        d = c.recv(4096)
                        if not d:
                            return
                        head += d
                    head, body = head.split(b"\r\n\r\n", 1)
                    length = int([ln.split(b":")[1] for ln in head.split(b"\r\n")
                                  if ln.lower().startswith(b"content-length:")][0])
                    while len(body) < length:
                        d = c.recv(65536)
                        if not d:
                            return
                        body += d
        attacker = threading.Thread(target=just_in_time)
        attacker.start()
        time.sleep(1)
        t0 = time.monotonic()
        try:
            with socket.create_connection((srv.host, srv.port), timeout=15) as c:
                c.sendall(b"GET /api/slides HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                got = c.recv(12)
        except OSError as e:
            got = repr(e).encode()
        waited = time.monotonic() - t0
        stop.set()
        attacker.join()
        h.check(got == b"HTTP/1.1 200" and waited < 10,
                f"a client waiting behind one that finishes each request just in time: {got!r} after {waited:.1f} s")
        rss0 = rss_mb()
        with socket.create_connection((srv.host, srv.port), timeout=5) as c:
            c.sendall(b"GET /api/slides HTTP/1.1\r\nHost: x\r\n")
            lines, sent = b"X-Pad: " + b"a" * 8000 + b"\r\n", 0
            try:
                while sent < (64 << 20):
                    c.sendall(lines * 16)
                    sent += len(lines) * 16
            except OSError:
                pass
        h.check(sent < (32 << 20) and rss_mb() - rss0 < 48,
                f"endless headers: {sent >> 20} MB taken, server RSS {rss0} -> {rss_mb()} MB")
        h.check(answered_soon(), "no answer after endless headers")
    finally:
        code, err = srv.stop()
    h.check(code == 0, f"stuck-clients server exit {code}: {err[-300:]}")
    h.check(err.count("within 2 s (--request-timeout)") >= 2 and "over 1024 KiB received" in err and
            "while other clients wait for a thread" in err, f"the guard's log lines: {err[-800:]}")


def check_error_paths(tmp):
    """A 500 (a Deep Zoom tile that needs more than 4096 x 4096 px of the slide) names the file
    without the folders it is in: those stay in the server's own log."""
    folder = os.path.join(tmp, "private", "folder")
    os.makedirs(folder)
    Image.new("RGB", (4200, 4200), (200, 120, 190)).save(os.path.join(folder, "wide.png"))
    srv = Server(os.path.join(folder, "wide.png"))
    try:
        sid = json.loads(srv.get("/api/slides")[2])[0]["id"]
        st, _, body = srv.get(f"/slides/{sid}_files/0/0_0.png")  # 1 x 1 px: the whole image, one read
        h.check(st == 500 and b"wide.png" in body and tmp.encode() not in body and b"/" not in body,
                f"500 reply: {st} {body[:200]!r}")
    finally:
        code, err = srv.stop()
        h.check(folder in err, f"the server's log should keep the path: {err[-300:]}")


def check_start_errors(tmp, slide):
    empty = os.path.join(tmp, "empty")
    os.makedirs(empty)
    broken = os.path.join(tmp, "broken")
    os.makedirs(broken)
    with open(os.path.join(broken, "predict.json"), "w") as f:
        json.dump({"slides": {"x": {"path": "missing.tif", "csv": "x.csv", "window_side": 224}}}, f)
    for args, word in [([os.path.join(tmp, "nothing.tif")], "nothing.tif"), ([empty], "empty"),
                       ([broken], "missing.tif"), (["--port", "70000", slide], "port")]:
        p = subprocess.run([DEEPSLIDE, "serve", *args], capture_output=True, text=True, timeout=20)
        line = h.error_line(p)
        h.check(p.returncode == 2 and word in line, f"serve {args}: exit {p.returncode}, {line}")


def check_real_runs(tmp):
    """The folders `predict` and `diagnose` write (an untrained 32-px model, a majority bundle),
    served as they are: each slide with its run's windows, window side and diagnosis."""
    new, t = os.path.join(tmp, "new"), lambda *p: os.path.join(tmp, *p)
    h.run(["synth", "--out", new, "--classes", "2", "--slides-per-class", "1", "--width", "600", "--height", "500",
           "--seed", "9"])
    h.run(["init-model", "--arch", "resnet18", "--classes", "glandular,solid", "--patch-size", "32", "--out", t("m.st")])
    with open(t("agg.json"), "w") as f:
        json.dump({"method": "majority", "classes": ["glandular", "solid"]}, f)
    recipe = ["--overlap", "1", "--level", "0", "--tissue", "none"]
    h.run(["bundle", "--model", t("m.st"), "--aggregator", t("agg.json"), "--out", t("b.st")] + recipe)
    h.run(["diagnose", "--bundle", t("b.st"), "--out", t("dx"), new, "--quiet"])
    with open(t("labels.csv"), "w") as f:
        f.write("img,gt\nsolid/solid_000.tif,solid\n")
    h.run(["predict", "--model", t("m.st"), "--all-wsi", new, "--labels", t("labels.csv"), "--out", t("pn"), "--quiet"]
          + recipe)
    with serving(t("dx"), t("pn"), ok_message="served real predict and diagnose folders") as srv:
        slides = json.loads(srv.get("/api/slides")[2])
        h.check(sorted((s["name"], s["predictions"]) for s in slides) ==
                [("glandular_000.tif", "diagnose"), ("solid_000.tif", "diagnose"), ("solid_000.tif", "predict")],
                f"real runs: {slides}")
        dx = {r["slide"]: r for r in csv.DictReader(open(t("dx", "diagnoses.csv")))}
        for s in slides:
            p = json.loads(srv.get(f"/api/slides/{s['id']}/predictions")[2])
            rows = list(csv.reader(open(t("dx", s["name"][:-4], "windows.csv") if s["predictions"] == "diagnose"
                                        else t("pn", "solid%2Fsolid_000.tif.csv"))))[1:]
            h.check(p["window_side"] == 32 and len(p["windows"]) == len(rows) > 0 and p["classes"] == ["glandular", "solid"],
                    f"{s['id']}: side {p['window_side']}, {len(p['windows'])} windows, CSV {len(rows)}")
            if s["predictions"] == "diagnose":
                want = [r for k, r in dx.items() if k.endswith(s["name"])][0]["diagnosis"]
                h.check(p["diagnosis"]["diagnosis"] == want == s["diagnosis"], f"{s['id']}: diagnosis {p['diagnosis']}")
    # predict started in another folder records the slides relative to it (as `deepslide run` does);
    # serve started elsewhere finds them under a folder above the run folder (tmp, above tmp/proj/pn).
    os.makedirs(t("proj"))
    p = subprocess.run([os.path.abspath(DEEPSLIDE), "predict", "--model", "m.st", "--all-wsi", "new", "--labels",
                        "labels.csv", "--out", os.path.join("proj", "pn"), "--quiet"] + recipe,
                       cwd=tmp, capture_output=True, text=True)
    h.check(p.returncode == 0, f"predict from {tmp}: exit {p.returncode} {p.stderr[-400:]}")
    recorded = [e["path"] for e in json.load(open(t("proj", "pn", "predict.json")))["slides"].values()]
    h.check(recorded == [os.path.join("new", "solid", "solid_000.tif")], f"recorded paths: {recorded}")
    with serving(t("proj", "pn"), ok_message="served a run started in another folder") as srv:
        slides = json.loads(srv.get("/api/slides")[2])
        h.check([s["name"] for s in slides] == ["solid_000.tif"], f"run started elsewhere: {slides}")
        p = json.loads(srv.get(f"/api/slides/{slides[0]['id']}/predictions")[2]) if slides else {}
        h.check(len(p.get("windows", [])) > 0, f"its windows: {str(p)[:200]}")
    # Above the run folder's parent a file is taken only when it is the slide the run's key
    # describes: another slide of the same name there is not served under this run's predictions.
    os.rename(t("new"), t("new.kept"))
    h.run(["synth", "--out", t("new"), "--classes", "2", "--slides-per-class", "1", "--width", "700", "--height",
           "500", "--seed", "10"])
    p = subprocess.run([DEEPSLIDE, "serve", "--port", "0", t("proj", "pn")], capture_output=True, text=True, timeout=20)
    h.check(p.returncode == 2 and "new/solid/solid_000.tif' not found" in h.error_line(p),
            f"another slide of the recorded name above the run: exit {p.returncode} {h.error_line(p)}")
    shutil.rmtree(t("new"))
    os.rename(t("new.kept"), t("new"))
    # A hostile recorded path (40 KB, control characters) is refused in one short line.
    shutil.copytree(t("proj", "pn"), t("proj", "pn_long"))
    doc = json.load(open(t("proj", "pn_long", "predict.json")))
    for e in doc["slides"].values():
        e["path"] = "d/" + "x\x1b" * 20000 + ".tif"
    json.dump(doc, open(t("proj", "pn_long", "predict.json"), "w"))
    p = subprocess.run([DEEPSLIDE, "serve", "--port", "0", t("proj", "pn_long")], capture_output=True, text=True,
                       timeout=20)
    line = h.error_line(p)
    h.check(p.returncode == 2 and "not found" in line and len(line) < 1500 and "\x1b" not in line,
            f"a 40 KB recorded path: exit {p.returncode}, a {len(line)}-byte error line {line[:300]!r}")


def main():
    tmp = h.tempdir("ds_serve_api_")
    src = os.path.join(tmp, "src.png")
    Image.fromarray(smooth_pattern(1100, 700, 1)).save(src)
    pyr = os.path.join(tmp, "pyr.tif")  # floor-rounded levels (1100 -> 550 -> 275 -> 137): edge blocks
    subprocess.run(["vips", "tiffsave", src, pyr, "--tile", "--pyramid", "--compression", "jpeg", "--Q", "90",
                    "--tile-width", "128", "--tile-height", "128", "--xres", "4000", "--yres", "4000"], check=True)
    h.run(["synth", "--out", os.path.join(tmp, "syn"), "--classes", "2", "--slides-per-class", "1",
           "--width", "1400", "--height", "1000"])
    synth = os.path.join(tmp, "syn", "solid", "solid_000.tif")
    ann_dir = os.path.join(tmp, "ann")
    os.makedirs(ann_dir)
    ann = [[(100, 100), (600, 120), (500, 500), (120, 400)], [(200, 200), (300, 200), (300, 300)]]
    with open(os.path.join(ann_dir, "pyr.geojson"), "w") as f:
        json.dump({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
            "type": "Polygon", "coordinates": [[list(p) for p in r] for r in ann]},
            "properties": {"classification": {"name": "tumor"}}}]}, f)
    pred, pred_rows, classes, diag, diag_rows, result = make_runs(tmp, synth)
    fixtures = {"hamamatsu.ndpi": "hamamatsu.ndpi", "philips.tiff": "philips.tiff", "aperio_jp2k_33003.svs": "aperio_jp2k_33003.svs"}
    for f in fixtures:
        shutil.copy(os.path.join(FIX, "slides", f), tmp)
    slides = [pyr] + [os.path.join(tmp, f) for f in fixtures]
    with serving("--annotations", ann_dir, *slides, pred, diag, ok_message="serve API: ok") as srv:
        listed = {s["name"]: s["id"] for s in json.loads(srv.get("/api/slides")[2])}
        for path in slides + [synth]:
            check_tiles(srv, listed[os.path.basename(path)], path, tmp)
        check_json(srv, pred, pred_rows, classes, diag_rows, result, ann)
        top = dz_level_count(1100, 700) - 1
        check_bad_requests(srv, pyr, listed["pyr.tif"], top)
        check_parallel(srv, listed["pyr.tif"], top)
        st, hd, body = srv.get("/")
        h.check(st == 200 and b"/static/openseadragon.min.js" in body, f"page: {st}")
        st, _, osd = srv.get("/static/openseadragon.min.js")
        h.check(st == 200 and osd.startswith(b"//! openseadragon 6."), f"openseadragon.min.js: {st}")
        st, _, lic = srv.get("/static/openseadragon-LICENSE.txt")
        h.check(st == 200 and b"Redistribution" in lic, f"licence: {st}")
        check_token(pyr)
        check_hostile_clients(pyr, f"/slides/{listed['pyr.tif']}_files/0/0_0.png")
        check_stuck_clients(pyr)
        check_start_errors(tmp, pyr)
        check_error_paths(tmp)
    check_real_runs(tmp)
    check_folder_walk(tmp, pred)


def check_folder_walk(tmp, pred):
    """A folder of class sub-folders serves the slides in them (one folder down), and a slide
    reached both through it and through a predict run is listed once, with the run's predictions."""
    with serving(os.path.join(tmp, "syn"), pred, ok_message="serve folder walk: ok") as srv:
        slides = json.loads(srv.get("/api/slides")[2])
        names = sorted((s["name"], s["predictions"]) for s in slides)
        h.check(names == [("glandular_000.tif", None), ("solid_000.tif", "predict")],
                f"a folder of class sub-folders with a run of one of its slides: {names}")


if __name__ == "__main__":
    main()
