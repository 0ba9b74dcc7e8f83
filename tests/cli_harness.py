"""Shared by the Python CLI tests: the deepslide binary under test (env DEEPSLIDE), a failure
list that checks append to instead of stopping at the first problem, tempdir() for scratch
folders removed after a passing run, model_metadata() / edit_model_metadata() for a model file's
safetensors metadata, run() which records an
unexpected exit code with the tail of stderr, error_line() for the one-line error,
expect_stages() for `deepslide run`'s summary, and partial_rows() / interrupted_after_commit() for
the resume tests."""
import atexit
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

DEEPSLIDE = os.environ.get("DEEPSLIDE", "build/deepslide")
failures = []
_scratch = []


def tempdir(prefix):
    """A fresh folder under the system temp dir, removed when the test exits without failures
    (kept for a look when one failed, or when DEEPSLIDE_KEEP_TMP is set)."""
    d = tempfile.mkdtemp(prefix=prefix)
    _scratch.append(d)
    return d


@atexit.register
def _remove_scratch():
    if failures or os.environ.get("DEEPSLIDE_KEEP_TMP"):
        return
    for d in _scratch:
        shutil.rmtree(d, ignore_errors=True)


@atexit.register  # registered after _remove_scratch, so it runs first (atexit runs in reverse)
def _fail_on_unreported():
    """A failed check made after a test's last report of its failures (a test prints them and
    exits 1 where it ends, serve tests where each server stops) still fails the test."""
    if failures:
        sys.stdout.flush()
        print(f"{len(failures)} failed check(s), the last: {failures[-1][:2000]}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(1)


def model_metadata(path):
    """The __metadata__ of a safetensors file (a model or bundle): string keys and values."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        return json.loads(f.read(n))["__metadata__"]


def edit_model_metadata(src, dst, edit):
    """Copies a safetensors file with edit(metadata dict) applied to its metadata in place (the
    tensor bytes unchanged, the header padded to 8 bytes as safetensors writers do)."""
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    edit(header["__metadata__"])
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(dst, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def check(cond, msg):
    if not cond:
        failures.append(msg)


def run(args, expect=0):
    p = subprocess.run([DEEPSLIDE] + args, capture_output=True, text=True)
    if p.returncode != expect:
        failures.append(f"deepslide {' '.join(args)}: exit {p.returncode}, expected {expect}: {p.stderr.strip()[-800:]}")
    return p


def error_line(p):
    """The 'deepslide: error: ...' line a failed run ends with, or a marker plus the stderr tail."""
    lines = p.stderr.strip().splitlines()
    return lines[-1] if lines and lines[-1].startswith("deepslide: error: ") else "(no error line) " + p.stderr[-600:]


def out_name(rel):
    """The name predict gives a slide's outputs (infer/prediction_index.h): its path under the
    slide folder with '%' -> '%25' and '/' -> '%2F' (names of at most 200 bytes)."""
    return rel.replace("%", "%25").replace("/", "%2F")


def stage_states(stdout, names):
    """stage name -> 'ran' | 'skipped' | 'not run' (else the status text) from deepslide run's
    summary, for the stages in `names` ("train", or "fold0/train" in a cross-validation run)."""
    states = {}
    for line in stdout.splitlines():
        m = re.match(r"^  ([\w/]+)\s+(.*)$", line)
        if m and m.group(1) in names:
            rest = m.group(2)
            states[m.group(1)] = ("skipped" if rest.startswith("skipped") else "not run" if rest.startswith("not run")
                                  else "ran" if re.match(r"[0-9.]+ s", rest) else rest)
    return states


def expect_stages(p, want, what):
    """Checks that the run `p` reports exactly the stage states `want` (name -> state)."""
    got = stage_states(p.stdout, want.keys())
    check(got == want, f"{what}: stages {got}, expected {want}\n{p.stdout[-2000:]}")


def write_finished_csv(csv_path, text):
    """A prediction CSV written by hand and the key file predict writes beside it once the CSV is
    finished (readers take only such CSVs): the CSV's size and FNV-1a 64 (base/hash.h)."""
    data = text.encode()
    with open(csv_path, "wb") as fh:
        fh.write(data)
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xffffffffffffffff
    with open(csv_path[:-len(".csv")] + ".key.json", "w") as fh:
        json.dump({"format": "deepslide-prediction-key", "key": {}, "csv_bytes": len(data), "csv_fnv1a": f"{h:016x}"},
                  fh)


def partial_rows(path):
    """Rows committed to a partial predictions file (its JSON first line), 0 if none or unreadable."""
    try:
        with open(path) as f:
            return json.loads(f.readline())["rows"]
    except (OSError, ValueError, KeyError):
        return 0


def interrupted_after_commit(args, partial, sig, env=None):
    """Starts `deepslide args`, waits until the partial file (a path, or a function giving it)
    holds a committed chunk, sends `sig`; returns (exit code, stderr). With chunks committed every
    fraction of a second the signal lands mid-slide however fast the machine is."""
    proc = subprocess.Popen([DEEPSLIDE, *args], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if partial_rows(partial() if callable(partial) else partial) > 0:
            break
        time.sleep(0.01)
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
        failures.append(f"{sig!r}: deepslide {args[0]} did not stop")
    return proc.returncode, err
