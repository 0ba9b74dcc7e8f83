#!/usr/bin/python3
"""Convert a torchvision ResNet checkpoint into a deepslide model file (safetensors + metadata).

Accepts a state_dict saved with torch.save (also wrapped as DeepSlide does, under
"model_state_dict", or "state_dict"/"model"; a DataParallel "module." prefix is stripped), a whole
pickled nn.Module, torchvision's own pretrained weights file (resnet18-f37072fd.pth, ...), or a
safetensors file holding a raw state_dict (to add the metadata deepslide needs). The weights are
checked by loading them into torchvision's model of the given --arch (strict), so a wrong arch or
a broken checkpoint is reported here. If the checkpoint's fc has a different class count than
--classes, fc is replaced by a freshly initialised Linear (seeded) and a note says so.

Runs with Debian's /usr/bin/python3 (python3-torch, python3-torchvision). There is no python
safetensors package here: the format is written and read by hand. Torch is only needed by this
converter, never by deepslide at run time.

    /usr/bin/python3 weights/export_torchvision.py --arch resnet18 --classes a,b,c \\
        --out model.safetensors checkpoint.pth
"""
import argparse
import json
import os
import struct
import sys

import numpy as np

FORMAT = "deepslide-model"
VERSION = "1"
ARCHS = ("resnet18", "resnet34", "resnet50")
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class ExportError(Exception):
    pass


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float32 numpy array) in the order to store; metadata: str -> str."""
    header = {}
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    blobs = []
    offset = 0
    for name, arr in tensors:
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)  # data starts 8-byte aligned
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
    os.replace(tmp, path)


def read_safetensors(path):
    """Returns ({name: numpy array}, metadata dict or None). Decodes F32/F16/BF16/F64/I64."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ExportError(f"{path}: too short for safetensors")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > len(raw) - 8:
        raise ExportError(f"{path}: header length {n} beyond the end of the file")
    try:
        header = json.loads(raw[8:8 + n])
    except ValueError as e:
        raise ExportError(f"{path}: malformed safetensors header ({e})")
    data = raw[8 + n:]
    meta = header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        chunk = data[a:b]
        dt = info["dtype"]
        if dt == "BF16":
            arr = (np.frombuffer(chunk, "<u2").astype(np.uint32) << 16).view(np.float32)
        else:
            np_dt = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8"}.get(dt)
            if np_dt is None:
                raise ExportError(f"{path}: tensor '{name}' has unsupported dtype {dt}")
            arr = np.frombuffer(chunk, np_dt)
        out[name] = arr.reshape(info["shape"])
    return out, meta


def extract_state_dict(obj, torch):
    """Finds the tensor dict inside whatever torch.load returned."""
    if isinstance(obj, torch.nn.Module):
        return obj.state_dict()
    if isinstance(obj, dict):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return obj
        for key in ("model_state_dict", "state_dict", "model"):
            if key in obj:
                return extract_state_dict(obj[key], torch)
    raise ExportError("no state_dict found (expected a dict of tensors, an nn.Module, or a dict "
                      "with 'model_state_dict' / 'state_dict' / 'model')")


def load_checkpoint(path, torch):
    if path.endswith(".safetensors"):
        arrays, _ = read_safetensors(path)
        return {k: torch.from_numpy(np.array(v)) for k, v in arrays.items()}
    try:
        obj = torch.load(path, map_location="cpu")
    except Exception as e:  # torch raises many types for a bad file
        raise ExportError(f"{path}: cannot load with torch.load ({e})")
    sd = extract_state_dict(obj, torch)
    if sd and all(k.startswith("module.") for k in sd):
        sd = {k[len("module."):]: v for k, v in sd.items()}
    return sd


def parse_list(text, what, convert=str):
    items = [s.strip() for s in text.split(",")]
    try:
        return [convert(s) for s in items]
    except ValueError:
        raise ExportError(f"--{what}: cannot parse '{text}'")


def convert(checkpoint, arch, classes, out, mean=None, std=None, patch_size=224, seed=0, log=sys.stderr):
    import torch
    import torchvision

    if arch not in ARCHS:
        raise ExportError(f"unknown arch '{arch}' (expected one of {', '.join(ARCHS)})")
    if len(classes) < 2 or len(set(classes)) != len(classes) or any(not c for c in classes):
        raise ExportError(f"--classes needs at least two distinct non-empty names, got {classes}")
    mean = list(IMAGENET_MEAN if mean is None else mean)
    std = list(IMAGENET_STD if std is None else std)
    if len(mean) != 3 or len(std) != 3 or any(s <= 0 for s in std):
        raise ExportError("--mean and --std need 3 values each, std > 0")
    if patch_size <= 0:
        raise ExportError("--patch-size must be positive")

    sd = load_checkpoint(checkpoint, torch)
    sd = {k: v for k, v in sd.items() if not k.endswith("num_batches_tracked")}
    if "fc.weight" not in sd:
        raise ExportError(f"{checkpoint}: no 'fc.weight' tensor; is this a torchvision ResNet?")
    ckpt_classes = int(sd["fc.weight"].shape[0])
    model = getattr(torchvision.models, arch)(weights=None, num_classes=ckpt_classes)
    missing, unexpected = [], []
    try:
        res = model.load_state_dict(sd, strict=False)
        missing = [k for k in res.missing_keys if not k.endswith("num_batches_tracked")]
        unexpected = list(res.unexpected_keys)
    except RuntimeError as e:  # shape mismatches: torch lists every one, keep the first few
        lines = [l.strip() for l in str(e).splitlines() if l.strip().startswith("size mismatch")]
        more = f" (and {len(lines) - 3} more)" if len(lines) > 3 else ""
        raise ExportError(f"{checkpoint}: does not fit torchvision {arch} (wrong --arch?): "
                          + "; ".join(lines[:3] or [str(e)]) + more)
    if missing or unexpected:
        raise ExportError(f"{checkpoint}: does not fit torchvision {arch} (wrong --arch?): "
                          f"missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                          f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    if ckpt_classes != len(classes):
        torch.manual_seed(seed)
        model.fc = torch.nn.Linear(model.fc.in_features, len(classes))
        print(f"export_torchvision: checkpoint fc has {ckpt_classes} classes, --classes lists "
              f"{len(classes)}: fc replaced by a freshly initialised Linear (seed {seed})", file=log)

    tensors = [(k, v.detach().to(torch.float32).cpu().numpy())
               for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "arch": arch,
        "classes": json.dumps(classes),
        "mean": json.dumps([float(m) for m in mean]),
        "std": json.dumps([float(s) for s in std]),
        "patch_size": str(int(patch_size)),
    }
    write_safetensors(out, tensors, metadata)
    print(f"export_torchvision: {arch}, {len(classes)} classes, patch {patch_size}, "
          f"{len(tensors)} tensors -> {out}", file=log)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoint", help=".pth/.pt state_dict or pickled model, or a raw .safetensors")
    p.add_argument("--arch", required=True, choices=ARCHS)
    p.add_argument("--classes", required=True, nargs="+",
                   help="class names, comma-separated and/or space-separated, in fc order")
    p.add_argument("--mean", default=None, help="r,g,b in 0..1 units (default ImageNet)")
    p.add_argument("--std", default=None, help="r,g,b in 0..1 units (default ImageNet)")
    p.add_argument("--patch-size", type=int, default=224)
    p.add_argument("--seed", type=int, default=0, help="seed for a replaced fc layer")
    p.add_argument("--out", required=True, help="model file to write (.safetensors)")
    a = p.parse_args(argv)
    try:
        classes = [c for part in a.classes for c in parse_list(part, "classes")]
        mean = parse_list(a.mean, "mean", float) if a.mean else None
        std = parse_list(a.std, "std", float) if a.std else None
        convert(a.checkpoint, a.arch, classes, a.out, mean, std, a.patch_size, a.seed)
    except (ExportError, OSError) as e:
        print(f"export_torchvision.py: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
