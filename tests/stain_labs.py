"""Two synthetic H&E "labs" for the stain tests and experiments (tests/test_stain_shift.py,
bench/stain_shift_experiment.py): 32-px patches drawn from the optical-density model, classes
told apart by nuclei density, each lab with its own haematoxylin and eosin vectors and staining
strength; and the helpers that classify them with a trained model."""
import json
import os

import numpy as np
from PIL import Image

from cli_harness import check, run

SIZE = 32
# (haematoxylin, eosin) optical-density directions and a staining strength per lab: the training
# lab's are the reference vectors of Macenko et al.'s code, the other lab's bluer haematoxylin
# and a more magenta eosin, stained more heavily.
LAB_A = ([0.5626, 0.7201, 0.4062], [0.2159, 0.8012, 0.5581], 1.0)
LAB_B = ([0.70, 0.65, 0.30], [0.30, 0.80, 0.52], 1.4)


def patch(rng, lab, dense):
    hv = np.array(lab[0]) / np.linalg.norm(lab[0])
    ev = np.array(lab[1]) / np.linalg.norm(lab[1])
    yy, xx = np.mgrid[0:SIZE, 0:SIZE]
    ch = np.zeros((SIZE, SIZE))
    for _ in range(int(rng.integers(12, 18) if dense else rng.integers(2, 4))):
        cy, cx, r = rng.uniform(0, SIZE), rng.uniform(0, SIZE), rng.uniform(1.5, 2.5)
        ch += 1.0 * ((yy - cy) ** 2 + (xx - cx) ** 2 <= r * r)
    ce = 0.6 + 0.4 * rng.uniform(size=(SIZE, SIZE))
    od = lab[2] * (np.minimum(ch, 1.2)[..., None] * hv + ce[..., None] * ev) + rng.normal(0, 0.02, (SIZE, SIZE, 3))
    return np.clip(np.rint(255 * np.exp(-np.maximum(od, 0))), 0, 255).astype(np.uint8)


def write_set(root, lab, per_class, seed):
    """per_class patches of each class under root/<class>/, PNG; returns [(file, class)]."""
    rng = np.random.default_rng(seed)
    files = []
    for cls in ("dense", "sparse"):
        os.makedirs(f"{root}/{cls}", exist_ok=True)
        for i in range(per_class):
            f = f"{root}/{cls}/{cls}_{i:03d}.png"
            Image.fromarray(patch(rng, lab, cls == "dense")).save(f)
            files.append((f, cls))
    return files


def accuracy(model, files):
    p = run(["classify", "--model", model, "--json", "--threads", "2"] + [f for f, _ in files])
    check(p.returncode == 0, f"classify exit {p.returncode}: {p.stderr}")
    rows = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
    check(len(rows) == len(files), f"classify printed {len(rows)} rows for {len(files)} patches")
    return sum(r.get("prediction") == cls for r, (_, cls) in zip(rows, files)) / max(1, len(files))


