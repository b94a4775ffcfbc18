"""Sharded datasets: what writing costs, and whether memory stays flat.

    .venv/bin/python bench/shards.py                 # the speed table
    .venv/bin/python bench/shards.py --memory        # 20,000 frames, CLI, COCO: RSS curve
    .venv/bin/python bench/shards.py --smoke         # the tiniest run (the test suite's)

Speed: frames per second of one warm Renderer, interleaved repeats (median),
for each frame size, of
  none        the frames consumed, nothing written (the baseline: 100%)
  shards      Renderer.write_shards: WebDataset shards (.npy, .png, .json members)
              of about 100 MB (1000 samples at 64x64, 13 at 640x480), each
              fsync'd before it is listed: the durability a resume relies on
  hdf5/frame  BlenderProc's way: one HDF5 file per frame (h5py, gzip, as
              BlenderProc's write_hdf5 does), the metadata as a JSON string
  png/frame   one PNG (display, Pillow) and one .npy per pass per frame
The ratio to `none` is what each output costs; the goal for shards is >= 95%.

--memory: `blendarray render -n 20000 --shards DIR --coco -e cycles -s 1
--size 64x64` (the C consumer and writer), its resident memory sampled every
second; prints the curve and the growth from the first complete shard to the end.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "build", "dev", "python"))
import numpy as np  # noqa: E402

import blendarray as ba  # noqa: E402


def rss_mib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def none(r, n, out):
    for f in r.frames(n):
        pass


def shards(r, n, out):
    # shards of about 100 MB (webdataset's advice: 100 MB to 1 GB): 1000 samples
    # at 64x64 (the default size), a byte limit at 640x480
    r.write_shards(n, out, shard_size=1000, shard_bytes=SHARD_BYTES, progress=False)


SHARD_BYTES = 100 << 20


def hdf5(r, n, out):
    import h5py
    os.makedirs(out)
    for f in r.frames(n):
        with h5py.File(os.path.join(out, f"{f.meta['index']}.hdf5"), "w") as h:
            for k, a in f.items():
                h.create_dataset(k, data=a, compression="gzip")
            h.create_dataset("meta", data=np.bytes_(json.dumps(f.meta)))


def png(r, n, out):
    from PIL import Image
    os.makedirs(out)
    for f in r.frames(n):
        i = f.meta["index"]
        Image.fromarray(f["display"]).save(os.path.join(out, f"{i}.png"))
        for k, a in f.items():
            if k != "display":
                np.save(os.path.join(out, f"{i}.{k}.npy"), a)
        with open(os.path.join(out, f"{i}.json"), "w") as fh:
            json.dump(f.meta, fh)


METHODS = [("none", none), ("shards", shards), ("hdf5/frame", hdf5), ("png/frame", png)]


def speed(a):
    sizes = [((32, 24), 12)] if a.smoke else [((64, 64), 2500), ((640, 480), 150)]
    reps = 1 if a.smoke else a.reps
    print(f"frames per second (ratio to none), {a.engine}, rgba + depth + display, "
          f"median of {reps} interleaved runs", flush=True)
    print(f"{'size':>8} {'frames':>6}" + "".join(f" {m:>18}" for m, _ in METHODS))
    rows = {}
    for size, n in sizes:
        fps = {m: [] for m, _ in METHODS}
        with ba.Renderer(passes=["rgba", "depth"], display=True, engine=a.engine, samples=1,
                         resolution=size, blender=a.blender) as r:
            none(r, 8, None)  # warm
            for _ in range(reps):
                for m, fn in METHODS:
                    out = tempfile.mkdtemp(dir=a.tmp)
                    shutil.rmtree(out)
                    t0 = time.perf_counter()
                    fn(r, n, out)
                    fps[m].append(n / (time.perf_counter() - t0))
                    shutil.rmtree(out, ignore_errors=True)
        med = {m: statistics.median(v) for m, v in fps.items()}
        rows[size] = med
        print(f"{size[0]:>4}x{size[1]:<3} {n:>6}" + "".join(
            f" {med[m]:>10.1f} ({100 * med[m] / med['none']:4.0f}%)" for m, _ in METHODS),
            flush=True)
    worst = min(v["shards"] / v["none"] for v in rows.values())
    print(f"shards / none, worst size: {100 * worst:.1f}% (goal >= 95%)")


def memory(a):
    n = 40 if a.smoke else a.frames
    out = os.path.join(a.tmp, "mem")
    cli = os.path.join(ROOT, "build", "dev", "blendarray")
    size = "32x24" if a.smoke else "64x64"
    p = subprocess.Popen([cli, "render", "-n", str(n), "--shards", out, "--shard-size",
                          str(10 if a.smoke else 1000), "--coco", "-e", "cycles", "-s", "1",
                          "--size", size, "-q", "-w", str(a.workers)]
                         + (["--blender", a.blender] if a.blender else []))
    curve = []
    t0 = time.time()
    while p.poll() is None:
        time.sleep(0.2 if a.smoke else 1)
        done = 0
        try:
            with open(os.path.join(out, "shards.jsonl")) as f:
                done = sum(json.loads(x)["samples"] for x in f if x.endswith("\n"))
        except OSError:
            pass
        m = rss_mib(p.pid)
        if m == m:
            curve.append((time.time() - t0, done, m))
    if p.returncode != 0:
        sys.exit(f"the CLI failed ({p.returncode})")
    step = max(1, len(curve) // 20)
    for t, done, m in curve[::step]:
        print(f"{t:7.1f} s  {done:6d} samples in complete shards  consumer {m:7.1f} MiB")
    after = [c for c in curve if c[1] > 0] or curve
    lo, hi = min(c[2] for c in after), max(c[2] for c in after)
    print(f"{n} frames in {curve[-1][0]:.0f} s; consumer RSS from the first complete shard to the "
          f"end: {after[0][2]:.1f} -> {after[-1][2]:.1f} MiB (range {hi - lo:.1f} MiB)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--memory", action="store_true")
    ap.add_argument("--frames", type=int, default=20000)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--workers", type=int, default=2, help="Blenders (--memory)")
    ap.add_argument("--engine", default="WORKBENCH")
    ap.add_argument("--blender", default=None)
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end: what the test suite runs")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        a.tmp = tmp
        memory(a) if a.memory else speed(a)


if __name__ == "__main__":
    main()
