"""blendarray.torch.RenderDataset in a DataLoader against a bare Renderer with
the same Blender workers, and blendtorch's way (arrays pickled over a socket),
measured in one run on the same scene (demo scene, rgba + depth, 1 sample as in
bench/stream.py; Workbench, or --engine CYCLES). Every path renders with the
pickle baseline's settings: with 2 Blenders, threads=1 each (two Blenders on
the machine's cores, not each on all of them).

  renderer     Renderer(workers=W).frames(n), arrays touched (no copy)
  loader0      DataLoader(RenderDataset(workers=W), batch_size=B, num_workers=0):
               batches stacked by the default collate (one copy)
  loader2      DataLoader(RenderDataset(workers=1), num_workers=2): two loader
               processes with a Blender each (W = 2 only)
  pickle       W Blender loops pickling their arrays over a Unix socket (bench/stream.py)

    .venv/bin/python bench/torch_loader.py [--size 64] [--engine WORKBENCH|CYCLES] [--frames 1500]
                                           [--repeat 3] [--quick]
    .venv/bin/python bench/torch_loader.py --smoke

Steady state: every path renders warm-up frames first, not timed. Each
measurement runs --repeat times, interleaved; the table shows the median, with
ratios to the bare Renderer and the per-frame overhead in milliseconds.
--smoke: the tiniest run to the end (32x32, 8 frames, batch 4, 1 warm-up
frame or batch, 1 repeat): what the test suite runs
(tests/python/test_bench.py); its figures mean nothing.
"""
import argparse
import os
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, here)
import stream  # noqa: E402  (the pickle baseline; it puts build/dev's package on sys.path)
import blendarray as ba  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402
from blendarray.torch import RenderDataset  # noqa: E402

PASSES = ["rgba", "depth"]


def threads(blenders):
    """stream.baseline's: one thread each when several Blenders share the machine."""
    return 1 if blenders > 1 else None


def bare(flavour, n, size, workers, warm, engine="WORKBENCH"):
    with ba.Renderer(workers=workers, passes=PASSES, engine=engine, samples=1, resolution=size,
                     threads=threads(workers), blender=flavour) as r:
        list(r.frames(workers * warm))
        t0 = time.perf_counter()
        for f in r.frames(n):
            f["rgba"][0, 0], f["depth"][0, 0]
        return n / (time.perf_counter() - t0)


def loader(flavour, n, size, workers, warm, batch, loader_workers, engine="WORKBENCH"):
    blender_workers = workers if loader_workers == 0 else 1
    ds = RenderDataset(None, frames=n + warm * max(loader_workers, 1) * blender_workers * batch,
                       passes=PASSES, engine=engine, samples=1, resolution=size,
                       threads=threads(max(loader_workers, 1) * blender_workers),
                       workers=blender_workers, batch_size=batch, blender=flavour)
    skip = warm * max(loader_workers, 1) * blender_workers
    got, t0 = 0, None
    for k, b in enumerate(DataLoader(ds, batch_size=batch, num_workers=loader_workers)):
        if k == skip:
            t0 = time.perf_counter()
        if k >= skip:
            got += len(b["index"])
    return got / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--blender", default="bpy")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--engine", default="WORKBENCH", choices=["WORKBENCH", "CYCLES"])
    ap.add_argument("--frames", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="300 frames, 1 repeat")
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (32x32, 8 frames, batch 4, 1 warm-up, "
                         "1 repeat): what the test suite runs; its figures mean nothing")
    a = ap.parse_args()
    warm = 3
    if a.quick:
        a.frames, a.repeat = 300, 1
    if a.smoke:
        a.size, a.frames, a.batch, a.repeat, warm = 32, 8, 4, 1, 1
    size, n = (a.size, a.size), a.frames
    print(f"{a.size}x{a.size} {a.engine.title()}, rgba + depth, {n} frames, batch {a.batch}, "
          f"blender={a.blender}, median of {a.repeat}")
    print(f"{'W':>2} {'renderer fps':>12} {'loader0':>16} {'loader2':>16} {'pickle':>16} "
          f"{'loader0 ms/frame over renderer':>31}")
    for w in (1, 2):
        runs = {k: [] for k in ("renderer", "loader0", "loader2", "pickle")}
        for _ in range(a.repeat):
            runs["renderer"].append(bare(a.blender, n, size, w, warm=warm, engine=a.engine))
            runs["loader0"].append(loader(a.blender, n, size, w, warm, a.batch, 0, a.engine))
            if w == 2:
                runs["loader2"].append(loader(a.blender, n, size, w, warm, a.batch, 2, a.engine))
            runs["pickle"].append(stream.baseline(a.blender, "pickle", n, size, a.engine, w,
                                                  warm=warm))
        med = {k: statistics.median(v) if v else float("nan") for k, v in runs.items()}
        r = med["renderer"]
        cells = " ".join(f"{med[k]:7.1f} ({med[k] / r:5.1%})" for k in ("loader0", "loader2",
                                                                           "pickle"))
        over = (1 / med["loader0"] - 1 / r) * 1000
        print(f"{w:>2} {r:12.1f} {cells} {over:+31.3f}", flush=True)


if __name__ == "__main__":
    main()
