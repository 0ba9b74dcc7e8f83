#!/usr/bin/python3
"""Writes tests/fixtures/stain/: the oracle for stain/ (tests/test_stain.cpp).

- colour.json: 8-bit RGB pixels (every grey level, the cube's corners, random colours) with what
  scikit-image makes of them: rgb2hed, hed2rgb (of those HED values and of random ones), rgb2lab,
  lab2rgb (of those LAB values and of random, partly out-of-gamut ones).
- three small H&E-like images (src_*.png, drawn from random stain concentrations with three
  labs' stain vectors) and, from NumPy implementations of the published algorithms below:
  each image's Macenko fit (stain vectors, 99th-percentile concentrations), Vahadane fit (the
  same, stain vectors by scikit-learn's dictionary learning) and Reinhard LAB statistics, image 0
  normalised to image 1's reference by the three methods, an HED jitter with fixed factors
  (skimage's rgb2hed / hed2rgb), and the same jitter drawn back with perturbed H and E vectors
  (skimage's combine_stains with rgb_from_hed's first two rows times fixed factors, each row
  rescaled to its length).
- slide.png, slide.json: a small "slide" (H&E-like tissue on glass) and, for `--stain-fit slide`
  (slide/windows/slide_stain.h), the fits of the three methods on its tissue pixels: the Otsu mask
  of its HSV saturation after a 7 px median blur, by OpenCV (cvtColor, medianBlur, THRESH_OTSU, as
  CLAM segments tissue), the glass colour (each channel's lower median where the mask is off), and
  the pixels where the mask is on in raster order, white-balanced by it, fitted as one image.

Macenko et al. 2009, with the constants of the authors' reference code (Io = 240, beta = 0.15,
alpha = 1): (1) OD = -ln((I + 1) / Io); (2) drop pixels with OD < beta in any channel; (3) the
plane of the two leading eigenvectors of the remaining ODs' covariance (first one oriented to a
positive sum); (4) each pixel's angle in the plane, the stain vectors at the alpha and 100 - alpha
percentile angles, haematoxylin the one with the larger first (red) component; (5) every
pixel's concentrations by least squares, their 99th percentiles. Normalising: Io * exp(-HE_ref *
C / maxC * maxC_ref), rounded and clipped to 8 bits.
Vahadane et al. 2016: the stain matrix D (2 x 3, rows >= 0 of norm <= 1) and concentrations
C >= 0 minimising 0.5 ||OD - C D||^2 + lambda ||C||_1 (lambda = 0.1, the paper's), here
scikit-learn's dict_learning (coordinate-descent lasso codes, block-coordinate atom updates,
positive code and dictionary), on Macenko's tissue pixels taken at indices floor(j n / k),
k = min(n, 2048); the problem is not convex, so both sides start from the image's Macenko vectors
(clipped at 0, unit rows) and stop when the cost falls by less than 1e-6 of itself (at most 200
iterations). Rows normalised, haematoxylin the one with the larger red OD; concentrations by
least squares and their 99th percentiles, and the redraw, as Macenko's (as TIAToolbox does).
Reinhard et al. 2001: per LAB channel (skimage's rgb2lab), (x - mean_src) / std_src * std_ref +
mean_ref over all pixels (population std), back with lab2rgb, rounded to 8 bits.

Run: /usr/bin/python3 scripts/gen_stain_fixtures.py (Debian python3-skimage, python3-sklearn,
python3-numpy, python3-pil, python3-opencv); deterministic.
"""
import json
import os

import cv2
import numpy as np
from PIL import Image
from skimage.color import combine_stains, hed2rgb, lab2rgb, rgb2hed, rgb2lab, rgb_from_hed
from sklearn.decomposition import dict_learning

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "stain")
os.makedirs(OUT, exist_ok=True)
rng = np.random.RandomState(24)


def to8(x):
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


# ---- colour conversions ----
grey = np.repeat(np.arange(256, dtype=np.uint8)[:, None], 3, axis=1)
corners = np.array([[r, g, b] for r in (0, 255) for g in (0, 255) for b in (0, 255)], np.uint8)
rand = rng.randint(0, 256, size=(200, 3)).astype(np.uint8)
rgb8 = np.concatenate([grey, corners, rand])
rgb = rgb8.astype(np.float64)[None] / 255.0
hed = rgb2hed(rgb)
hed_rand = rng.uniform(0, 0.15, size=(1, 60, 3))
lab = rgb2lab(rgb)
lab_rand = np.stack([rng.uniform(0, 100, 80), rng.uniform(-110, 110, 80), rng.uniform(-110, 110, 80)], -1)[None]
colour = {
    "rgb8": rgb8.tolist(),
    "hed": hed[0].tolist(),
    "hed_rgb": hed2rgb(hed)[0].tolist(),
    "hed_in": hed_rand[0].tolist(),
    "hed_in_rgb": hed2rgb(hed_rand)[0].tolist(),
    "lab": lab[0].tolist(),
    "lab_rgb": lab2rgb(lab)[0].tolist(),
    "lab_in": lab_rand[0].tolist(),
    "lab_in_rgb": lab2rgb(lab_rand)[0].tolist(),
}
with open(os.path.join(OUT, "colour.json"), "w") as f:
    json.dump(colour, f)

# ---- H&E-like images ----
LABS = [  # (haematoxylin, eosin) OD directions of three labs
    ([0.65, 0.70, 0.29], [0.07, 0.99, 0.11]),
    ([0.55, 0.75, 0.37], [0.15, 0.90, 0.41]),
    ([0.75, 0.60, 0.28], [0.10, 0.95, 0.30]),
]


def he_image(h_vec, e_vec, seed, size=64):
    r = np.random.RandomState(seed)
    hv = np.array(h_vec) / np.linalg.norm(h_vec)
    ev = np.array(e_vec) / np.linalg.norm(e_vec)
    yy, xx = np.mgrid[0:size, 0:size]
    ch = np.zeros((size, size))
    for _ in range(14):
        cy, cx, rad = r.uniform(0, size), r.uniform(0, size), r.uniform(2, 5)
        ch += 1.1 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rad * rad))
    ce = 0.35 + 0.3 * r.uniform(size=(size, size))
    ce[:, : size // 5] = 0.02  # glass
    ch[:, : size // 5] *= 0.05
    od = ch[..., None] * hv + ce[..., None] * ev + r.normal(0, 0.02, (size, size, 3))
    return np.clip(np.rint(255 * np.exp(-np.maximum(od, 0))), 0, 255).astype(np.uint8)


IO, BETA, ALPHA = 240.0, 0.15, 1.0


def macenko_fit(img):
    od = -np.log((img.reshape(-1, 3).astype(np.float64) + 1) / IO)
    tissue = od[~np.any(od < BETA, axis=1)]
    _, vecs = np.linalg.eigh(np.cov(tissue, rowvar=False))
    v1, v2 = vecs[:, 2], vecs[:, 1]
    if v1.sum() < 0:
        v1 = -v1
    proj = tissue @ np.stack([v1, v2], 1)
    phi = np.arctan2(proj[:, 1], proj[:, 0])
    lo, hi = np.percentile(phi, ALPHA), np.percentile(phi, 100 - ALPHA)
    vmin = v1 * np.cos(lo) + v2 * np.sin(lo)
    vmax = v1 * np.cos(hi) + v2 * np.sin(hi)
    he = np.stack([vmin, vmax], 1) if vmin[0] > vmax[0] else np.stack([vmax, vmin], 1)
    conc = np.linalg.lstsq(he, od.T, rcond=None)[0]
    maxc = np.percentile(conc, 99, axis=1)
    return he, maxc, od, conc


LAMBDA, TOL, MAX_ITER, MAX_PIXELS = 0.1, 1e-6, 200, 2048


def vahadane_fit(img):
    he0, _, od, _ = macenko_fit(img)
    tissue = od[~np.any(od < BETA, axis=1)]
    n = len(tissue)
    k = min(n, MAX_PIXELS)
    x = tissue[(np.arange(k) * n) // k]
    d0 = np.maximum(he0.T, 0)
    d0 /= np.linalg.norm(d0, axis=1, keepdims=True)
    _, d, _, iters = dict_learning(x, n_components=2, alpha=LAMBDA, max_iter=MAX_ITER, tol=TOL, method="cd",
                                   code_init=np.zeros((k, 2)), dict_init=d0.copy(), positive_dict=True,
                                   positive_code=True, method_max_iter=10000, random_state=0, return_n_iter=True)
    d = d / np.linalg.norm(d, axis=1, keepdims=True)
    if d[0, 0] < d[1, 0]:
        d = d[::-1]
    he = d.T
    conc = np.linalg.lstsq(he, od.T, rcond=None)[0]
    maxc = np.percentile(conc, 99, axis=1)
    return he, maxc, od, conc, iters


def two_stain_normalise(img, fit, he_ref, maxc_ref):
    _, maxc, od, conc = fit(img)[:4]
    conc = conc / maxc[:, None] * maxc_ref[:, None]
    out = IO * np.exp(-(he_ref @ conc))
    return np.clip(np.rint(out.T), 0, 255).astype(np.uint8).reshape(img.shape)


def lab_stats(img):
    lab = rgb2lab(img.astype(np.float64) / 255).reshape(-1, 3)
    return lab.mean(0), lab.std(0)


def reinhard_normalise(img, mean_ref, std_ref):
    lab = rgb2lab(img.astype(np.float64) / 255)
    m, s = lab.reshape(-1, 3).mean(0), lab.reshape(-1, 3).std(0)
    return to8(lab2rgb((lab - m) / s * std_ref + mean_ref))


images = []
for i, (hv, ev) in enumerate(LABS):
    img = he_image(hv, ev, 100 + i)
    name = f"src_{i}.png"
    Image.fromarray(img).save(os.path.join(OUT, name))
    he, maxc, _, _ = macenko_fit(img)
    vhe, vmaxc, _, _, iters = vahadane_fit(img)
    print(name, "vahadane iterations", iters)
    mean, std = lab_stats(img)
    images.append({"file": name, "stains": he.T.tolist(), "max_conc": maxc.tolist(), "lab_mean": mean.tolist(),
                   "lab_std": std.tolist(), "vahadane_stains": vhe.T.tolist(), "vahadane_max_conc": vmaxc.tolist()})

src = np.asarray(Image.open(os.path.join(OUT, "src_0.png")))
ref = images[1]
Image.fromarray(two_stain_normalise(src, macenko_fit, np.array(ref["stains"]).T, np.array(ref["max_conc"]))).save(
    os.path.join(OUT, "macenko_0_to_1.png"))
Image.fromarray(two_stain_normalise(src, vahadane_fit, np.array(ref["vahadane_stains"]).T,
                                    np.array(ref["vahadane_max_conc"]))).save(os.path.join(OUT, "vahadane_0_to_1.png"))
Image.fromarray(reinhard_normalise(src, np.array(ref["lab_mean"]), np.array(ref["lab_std"]))).save(
    os.path.join(OUT, "reinhard_0_to_1.png"))
alpha, beta = np.array([1.04, 0.97, 1.02]), np.array([0.03, -0.04, 0.01])  # beta in OD units
jit = hed2rgb(rgb2hed(src.astype(np.float64) / 255) * alpha + beta / -np.log(1e-6))
Image.fromarray(to8(jit)).save(os.path.join(OUT, "hed_jitter_0.png"))
factor = np.array([[1.08, 0.93, 1.05], [0.95, 1.02, 1.09]])  # H r, g, b; E r, g, b
m = rgb_from_hed.copy()
for r in range(2):
    row = m[r] * factor[r]
    m[r] = row * np.linalg.norm(m[r]) / np.linalg.norm(row)
mat = combine_stains(rgb2hed(src.astype(np.float64) / 255) * alpha + beta / -np.log(1e-6), m)
Image.fromarray(to8(mat)).save(os.path.join(OUT, "stain_matrix_0.png"))

with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump({"images": images, "macenko": "macenko_0_to_1.png", "reinhard": "reinhard_0_to_1.png",
               "vahadane": "vahadane_0_to_1.png",
               "hed_jitter": {"file": "hed_jitter_0.png", "alpha": alpha.tolist(), "beta": beta.tolist()},
               "stain_matrix": {"file": "stain_matrix_0.png", "factor": factor.tolist()}},
              f, indent=1)


# ---- a slide's tissue thumbnail (--stain-fit slide) ----
def slide_image(h_vec, e_vec, seed, width=200, height=150):
    r = np.random.RandomState(seed)
    hv = np.array(h_vec) / np.linalg.norm(h_vec)
    ev = np.array(e_vec) / np.linalg.norm(e_vec)
    yy, xx = np.mgrid[0:height, 0:width]
    tissue = ((yy - 70) ** 2 / 55.0 ** 2 + (xx - 90) ** 2 / 70.0 ** 2) <= 1
    tissue |= ((yy - 110) ** 2 + (xx - 165) ** 2) <= 25 ** 2
    ch = np.zeros((height, width))
    for _ in range(60):
        cy, cx, rad = r.uniform(0, height), r.uniform(0, width), r.uniform(2, 5)
        ch += 1.1 * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * rad * rad))
    ce = 0.35 + 0.3 * r.uniform(size=(height, width))
    od = tissue[..., None] * (ch[..., None] * hv + ce[..., None] * ev) + r.normal(0.02, 0.01, (height, width, 3))
    return np.clip(np.rint(255 * np.exp(-np.maximum(od, 0))), 0, 255).astype(np.uint8)


slide = slide_image(*LABS[2], 200)
Image.fromarray(slide).save(os.path.join(OUT, "slide.png"))
sat = cv2.cvtColor(slide, cv2.COLOR_RGB2HSV)[:, :, 1]
_, mask = cv2.threshold(cv2.medianBlur(sat, 7), 0, 255, cv2.THRESH_OTSU + cv2.THRESH_BINARY)
# The glass: each channel's lower median over the pixels the mask leaves out; the tissue pixels
# are white-balanced by it (channel * 255 / white, rounded half to even, at most 255) before the fits.
glass = slide.reshape(-1, 3)[mask.reshape(-1) == 0]
white = np.sort(glass, axis=0)[(len(glass) - 1) // 2].astype(np.float64)
pixels = slide.reshape(-1, 3)[mask.reshape(-1) > 0][None]  # one row, raster order
pixels = np.minimum(255, np.rint(pixels * 255.0 / white)).astype(np.uint8)
he, maxc, _, _ = macenko_fit(pixels)
vhe, vmaxc, _, _, _ = vahadane_fit(pixels)
mean, std = lab_stats(pixels)
with open(os.path.join(OUT, "slide.json"), "w") as f:
    json.dump({"file": "slide.png", "tissue_pixels": int(pixels.shape[1]), "white": white.tolist(), "stains": he.T.tolist(),
               "max_conc": maxc.tolist(), "vahadane_stains": vhe.T.tolist(), "vahadane_max_conc": vmaxc.tolist(),
               "lab_mean": mean.tolist(), "lab_std": std.tolist()}, f, indent=1)
print("wrote", OUT)
