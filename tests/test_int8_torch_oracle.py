#!/usr/bin/python3
"""int8 against PyTorch's int8 on the same torchvision weights: is our quantization's loss no worse
than PyTorch's? A torchvision resnet18 (seeded; BatchNorm statistics from a training-mode pass over
the patches, so eval mode normalizes as after training; the head centred on the patches' features
and scaled to a logit spread of about 2, so predictions vary), exported with
weights/export_torchvision.py, calibrated by `deepslide calibrate` on 32 PNG patches and classified
by `deepslide classify --precision fp32|int8` on 96 others. PyTorch's oracle: the same weights,
torchvision's quantizable resnet18 fused, calibrated on the same 32 patches and converted for its
`onednn` engine (per-channel weights, per-tensor activations, conv1 and fc quantized too).
Checked: our fp32 equals PyTorch's fp32 (1e-4), and our int8's mean and max |probability
difference| from our fp32 are no larger than PyTorch int8's from PyTorch fp32 (0.005 and 0.02 of
room). Argmax agreement is printed, not checked against PyTorch's: measured, ours agrees on 93.8%
of the 96 patches with mean/max differences 0.040/0.17 (conv1 quantized as the image), PyTorch's
on 100% with 0.052/0.27 (its errors shift every patch alike, which keeps the argmax; ours scatter
less but flip the patches within ~0.1 of 0.5); it must stay >= 90%. Skipped (exit 77) without AVX512-VNNI or AVX-VNNI.
Env DEEPSLIDE, DS_SOURCE_DIR.
"""
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torchvision
from PIL import Image

DEEPSLIDE = os.environ["DEEPSLIDE"]
EXPORT = os.path.join(os.environ["DS_SOURCE_DIR"], "weights", "export_torchvision.py")
P, CLASSES = 64, ["a", "b"]
torch.set_num_threads(2)
_spec = importlib.util.spec_from_file_location(
    "compare_pytorch", os.path.join(os.environ["DS_SOURCE_DIR"], "bench", "compare_pytorch.py"))
compare_pytorch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(compare_pytorch)  # its quantize_int8: PyTorch's int8 as the benchmark runs it


def run(cmd):
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"FAIL: {' '.join(cmd)} exited {res.returncode}\n{res.stdout}\n{res.stderr}")
    return res


def patches(folder, n, seed):
    rng = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:P, 0:P].astype(np.float32)
    paths = []
    for i in range(n):
        f = rng.uniform(0, 0.3, (3, 2))
        ph, a = rng.uniform(0, 6.3, 3), rng.uniform(30, 90, 3)
        img = np.stack([a[c] * np.sin(f[c, 0] * xx + f[c, 1] * yy + ph[c]) + 128 for c in range(3)], -1)
        img = np.clip(img + rng.normal(0, 30, img.shape), 0, 255).astype(np.uint8)
        p = os.path.join(folder, f"{seed}_{i}.png")
        Image.fromarray(img, "RGB").save(p)
        paths.append(p)
    return paths


def batch(paths):
    tf = torchvision.transforms.Compose([torchvision.transforms.ToTensor(),
                                         torchvision.transforms.Normalize([0.485, 0.456, 0.406],
                                                                          [0.229, 0.224, 0.225])])
    return torch.stack([tf(Image.open(p).convert("RGB")) for p in paths])


def ours(model, paths, precision):
    out = run([DEEPSLIDE, "classify", "--json", "--threads", "2", "--precision", precision, "--model", model]
              + paths).stdout
    rows = [json.loads(line) for line in out.splitlines() if line.strip()]
    return np.array([[r["probabilities"][c] for c in CLASSES] for r in rows])


def agreement(p32, p):
    """argmax agreement, max and mean |probability difference|."""
    d = np.abs(p32 - p)
    return float(np.mean(p32.argmax(1) == p.argmax(1))), float(np.max(d)), float(np.mean(d))


def main():
    with open("/proc/cpuinfo") as f:
        if not any(l.startswith("flags") and {"avx512_vnni", "avx_vnni"} & set(l.split()) for l in f):
            print("not run: CPU lacks AVX512-VNNI and AVX-VNNI")
            sys.exit(77)
    tmp = tempfile.mkdtemp(prefix="ds_int8_oracle_")
    try:
        calib, evals = patches(tmp, 32, 1), patches(tmp, 96, 2)
        xc, xe = batch(calib), batch(evals)
        from torchvision.models import quantization
        torch.manual_seed(5)
        m = quantization.resnet18(num_classes=len(CLASSES), quantize=False)
        with torch.no_grad():
            for mod in m.modules():
                if isinstance(mod, torch.nn.BatchNorm2d):
                    mod.weight.uniform_(0.75, 1.25)
                    mod.bias.uniform_(-0.1, 0.1)
                    mod.momentum = None  # cumulative average: the statistics of the patches below
            m.train()
            m(torch.cat([xc, xe]))
            m.eval()
            feats = torch.flatten(m.avgpool(m.layer4(m.layer3(m.layer2(m.layer1(
                m.maxpool(m.relu(m.bn1(m.conv1(xe))))))))), 1)
            mean = feats.mean(0)
            logits = (feats - mean) @ m.fc.weight.T
            m.fc.weight.mul_(2.0 / float(logits.std()))
            m.fc.bias.copy_(-(m.fc.weight @ mean))
            p32_torch = torch.softmax(m(xe), 1).numpy()
        pth = os.path.join(tmp, "m.pth")
        torch.save(m.state_dict(), pth)
        model = os.path.join(tmp, "m.safetensors")
        run([sys.executable, EXPORT, pth, "--arch", "resnet18", "--classes", *CLASSES, "--patch-size", str(P),
             "--out", model])
        model8 = os.path.join(tmp, "m.int8.safetensors")
        run([DEEPSLIDE, "calibrate", "--model", model, "--out", model8, *calib])
        p32, p8 = ours(model, evals, "fp32"), ours(model8, evals, "int8")

        q = compare_pytorch.quantize_int8(m, xc)
        with torch.no_grad():
            p8_torch = torch.softmax(q(xe), 1).numpy()

        fp32_diff = float(np.max(np.abs(p32 - p32_torch)))
        a_ours, d_ours, m_ours = agreement(p32, p8)
        a_torch, d_torch, m_torch = agreement(p32_torch, p8_torch)
        hit = len(set(p32.argmax(1)))
        print(f"fp32: ours vs PyTorch max |prob diff| {fp32_diff:.2e}; {hit} classes predicted")
        print(f"int8 vs fp32 on {len(evals)} patches: ours agree {100 * a_ours:.2f}% max diff {d_ours:.4f} mean "
              f"{m_ours:.4f}; PyTorch onednn agree {100 * a_torch:.2f}% max diff {d_torch:.4f} mean {m_torch:.4f}")
        print("margins |p - 0.5| of the flipped patches, ours:", np.round(np.abs(p32[p32.argmax(1) != p8.argmax(1), 0] - 0.5), 3))
        fails = []
        if not fp32_diff <= 1e-4:
            fails.append(f"fp32 differs from PyTorch's by {fp32_diff}")
        if hit != len(CLASSES):
            fails.append("fp32 predicts one class only: agreement would mean nothing")
        if not m_ours <= m_torch + 0.005:
            fails.append(f"int8 mean diff {m_ours} above PyTorch's {m_torch} + 0.005")
        if not d_ours <= d_torch + 0.02:
            fails.append(f"int8 max diff {d_ours} above PyTorch's {d_torch} + 0.02")
        if not a_ours >= 0.9:
            fails.append(f"int8 agreement {a_ours} below 0.9")
        if fails:
            sys.exit("FAIL: " + "; ".join(fails))
        print("OK")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
