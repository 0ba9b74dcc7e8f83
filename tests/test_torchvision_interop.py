#!/usr/bin/python3
"""Model files cross the PyTorch boundary both ways, with torchvision as the oracle.

(a) A torchvision resnet18 (fixed seed, perturbed BN statistics so eval mode is non-trivial) saved
    as a .pth state_dict, converted by weights/export_torchvision.py, classified by
    `deepslide classify --json`: probabilities must match torch's eval-mode softmax.
    The same weights pickled as a whole model, wrapped as DeepSlide saves them, or with
    DataParallel's "module." prefix, are read alike; a 1000-class checkpoint gets a fresh fc.
(b) A model written by `deepslide init-model` is read with a hand-written safetensors reader
    (header layout checked: 8-byte aligned header, F32, contiguous offsets, metadata keys), loads
    into torchvision's resnet18 with load_state_dict(strict=True) and gives the same
    probabilities as `deepslide classify`.
Run by ctest with /usr/bin/python3 (Debian python3-torch/torchvision); env DEEPSLIDE, DS_SOURCE_DIR.
"""
import importlib.util
import io
import json
import os
import time
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision
from PIL import Image

DEEPSLIDE = os.environ["DEEPSLIDE"]
EXPORT = os.path.join(os.environ["DS_SOURCE_DIR"], "weights", "export_torchvision.py")
TOLERANCE = 1e-4
PATCH = 64
torch.set_num_threads(2)
_spec = importlib.util.spec_from_file_location("export_torchvision", EXPORT)
export_torchvision = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(export_torchvision)


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def read_model_file(path):
    """Hand-written safetensors reader that also checks the layout deepslide promises."""
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n % 8 == 0, f"{path}: header length {n} not a multiple of 8"
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    meta = header.pop("__metadata__")
    assert set(meta) == {"format", "version", "arch", "classes", "mean", "std", "patch_size"}, meta
    assert all(isinstance(v, str) for v in meta.values()), meta
    assert meta["format"] == "deepslide-model" and meta["version"] == "1", meta
    pos = 0
    tensors = {}
    for name, info in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
        assert info["dtype"] == "F32", (name, info)
        a, b = info["data_offsets"]
        assert a == pos, f"{name}: offsets {a},{b} not contiguous (expected start {pos})"
        assert b - a == 4 * int(np.prod(info["shape"], dtype=np.int64)), (name, info)
        tensors[name] = torch.from_numpy(np.frombuffer(data[a:b], "<f4").reshape(info["shape"]).copy())
        pos = b
    assert pos == len(data), f"{path}: {len(data) - pos} bytes after the last tensor"
    return tensors, meta


def make_patches(folder):
    """Four 64x64 PNG patches: smooth colour fields with noise, and one greyscale."""
    rng = np.random.RandomState(3)
    paths = []
    yy, xx = np.mgrid[0:PATCH, 0:PATCH].astype(np.float32) / PATCH
    for i in range(3):
        base = np.stack([np.sin(3 * xx + i) * 60 + 150, np.cos(4 * yy - i) * 50 + 120,
                         (xx + yy) * 60 + 100 + 20 * i], axis=-1)
        img = np.clip(base + rng.normal(0, 25, base.shape), 0, 255).astype(np.uint8)
        p = os.path.join(folder, f"patch{i}.png")
        Image.fromarray(img, "RGB").save(p)
        paths.append(p)
    grey = rng.randint(0, 256, (PATCH, PATCH)).astype(np.uint8)
    p = os.path.join(folder, "grey.png")
    Image.fromarray(grey, "L").save(p)
    paths.append(p)
    return paths


def torch_probs(model, paths, mean, std):
    tf = torchvision.transforms.Compose([torchvision.transforms.ToTensor(),
                                         torchvision.transforms.Normalize(mean, std)])
    batch = torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])
    model.eval()
    with torch.no_grad():
        return torch.softmax(model(batch), dim=1).numpy()


def deepslide_probs(model_path, paths, classes):
    out = run([DEEPSLIDE, "classify", "--json", "--threads", "2", "--model", model_path] + paths).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    assert [r["image"] for r in rows] == paths, out
    for r in rows:
        assert list(r["probabilities"]) == classes, r
        probs = [r["probabilities"][c] for c in classes]
        assert r["prediction"] == classes[int(np.argmax(probs))], r
    return np.array([[r["probabilities"][c] for c in classes] for r in rows])


def compare(label, ours, theirs):
    diff = float(np.max(np.abs(ours - theirs)))
    print(f"{label}: max |p_deepslide - p_torch| = {diff:.3g} over {ours.size} probabilities")
    if not diff <= TOLERANCE:
        sys.exit(f"FAIL: {label}: difference {diff} above {TOLERANCE}\nours\n{ours}\ntorch\n{theirs}")
    if not np.array_equal(ours.argmax(1), theirs.argmax(1)):
        sys.exit(f"FAIL: {label}: predictions differ")


def perturbed_resnet18(num_classes, seed):
    torch.manual_seed(seed)
    m = torchvision.models.resnet18(num_classes=num_classes)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.3, 0.3)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.6, 1.4)
                mod.bias.uniform_(-0.2, 0.2)
                mod.num_batches_tracked.fill_(17)
        m.fc.bias.uniform_(-0.5, 0.5)
    return m


def part_a(tmp, patches):
    classes = ["tumor", "normal", "other"]
    mean, std = [0.70, 0.55, 0.72], [0.15, 0.21, 0.12]
    m = perturbed_resnet18(len(classes), seed=0)
    pth = os.path.join(tmp, "tv.pth")
    torch.save(m.state_dict(), pth)
    out = os.path.join(tmp, "tv.safetensors")
    common = ["--arch", "resnet18", "--classes", ",".join(classes), "--patch-size", str(PATCH),
              "--mean", ",".join(map(str, mean)), "--std", ",".join(map(str, std))]
    # The converter runs in-process through its command-line entry point (argv parsing included);
    # a separate interpreter would only add a torch start-up.
    assert export_torchvision.main([pth, "--out", out] + common) == 0
    tensors, meta = read_model_file(out)
    assert json.loads(meta["classes"]) == classes and json.loads(meta["mean"]) == mean, meta
    assert meta["arch"] == "resnet18" and meta["patch_size"] == str(PATCH), meta
    sd = {k: v for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(tensors) == set(sd), set(tensors) ^ set(sd)
    for k, v in sd.items():
        assert torch.equal(tensors[k], v), k

    compare("(a) torchvision .pth -> export -> deepslide classify",
            deepslide_probs(out, patches, classes), torch_probs(m, patches, mean, std))

    # Other checkpoint shapes yield the same state_dict (the write path is the one tested above).
    dp = torch.nn.DataParallel(m)
    for label, obj in (("pickled model", m), ("DeepSlide checkpoint", {"model_state_dict": m.state_dict(), "epoch": 3}),
                       ("DataParallel state_dict", dp.state_dict())):
        p = os.path.join(tmp, "other.pth")
        torch.save(obj, p)
        got = export_torchvision.load_checkpoint(p, torch)
        assert set(got) == set(m.state_dict()), f"{label}: names differ"
        assert all(torch.equal(got[k], v) for k, v in m.state_dict().items()), f"{label}: values differ"

    # A 1000-class checkpoint (torchvision's pretrained layout) gets a fresh fc and says so.
    torch.manual_seed(1)
    big = torchvision.models.resnet18()
    p = os.path.join(tmp, "imagenet.pth")
    torch.save(big.state_dict(), p)
    o = os.path.join(tmp, "imagenet.safetensors")
    log = io.StringIO()
    export_torchvision.convert(p, "resnet18", ["a", "b"], o, patch_size=PATCH, log=log)
    assert "fc replaced" in log.getvalue(), log.getvalue()
    t2, meta2 = read_model_file(o)
    assert list(t2["fc.weight"].shape) == [2, 512] and json.loads(meta2["classes"]) == ["a", "b"]
    assert json.loads(meta2["mean"]) == [0.485, 0.456, 0.406], meta2
    assert torch.equal(t2["layer4.1.conv2.weight"], big.state_dict()["layer4.1.conv2.weight"])

    # A wrong --arch is refused by the converter with a message naming the problem.
    try:
        export_torchvision.convert(pth, "resnet34", classes, os.path.join(tmp, "bad.safetensors"))
        sys.exit("FAIL: a resnet18 checkpoint converted as resnet34")
    except export_torchvision.ExportError as e:
        assert "resnet34" in str(e), str(e)


def part_b(tmp, patches):
    classes = ["a", "b", "c", "d"]
    out = os.path.join(tmp, "ours.safetensors")
    run([DEEPSLIDE, "init-model", "--arch", "resnet18", "--classes", ",".join(classes), "--seed", "5",
         "--patch-size", str(PATCH), "--mean", "0.6,0.5,0.7", "--std", "0.2,0.25,0.15", "--out", out])
    tensors, meta = read_model_file(out)
    assert meta["arch"] == "resnet18" and meta["patch_size"] == str(PATCH), meta
    assert json.loads(meta["classes"]) == classes, meta
    mean, std = json.loads(meta["mean"]), json.loads(meta["std"])
    assert mean == [0.6, 0.5, 0.7] and std == [0.2, 0.25, 0.15], meta

    m = torchvision.models.resnet18(num_classes=len(classes))
    expected = {k: v.shape for k, v in m.state_dict().items() if not k.endswith("num_batches_tracked")}
    assert set(tensors) == set(expected), set(tensors) ^ set(expected)
    for k, shape in expected.items():
        assert tensors[k].shape == shape, (k, tensors[k].shape, shape)
    m.load_state_dict(tensors, strict=True)  # num_batches_tracked defaults to 0 for a plain dict
    # Init must look like torchvision's: kaiming fan_out std for conv1, BN 1/0, fc bound 1/sqrt(512).
    conv_std = float(tensors["conv1.weight"].std())
    assert abs(conv_std - (2.0 / (64 * 49)) ** 0.5) < 0.003, conv_std
    assert float(tensors["fc.weight"].abs().max()) <= 512 ** -0.5
    assert torch.equal(tensors["bn1.weight"], torch.ones(64))

    compare("(b) deepslide init-model -> torchvision load_state_dict(strict=True)",
            deepslide_probs(out, patches, classes), torch_probs(m, patches, mean, std))


def main():
    tmp = tempfile.mkdtemp(prefix="ds_interop_")
    try:
        patches = make_patches(tmp)
        t0 = time.time()
        part_a(tmp, patches)
        t1 = time.time()
        part_b(tmp, patches)
        print(f"time: part a {t1 - t0:.1f} s, part b {time.time() - t1:.1f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("OK")


if __name__ == "__main__":
    main()
