"""Soak: stream N frames (default 10,000 at 64x64, Workbench) and record the
consumer's and each worker's resident memory every --every frames.

    .venv/bin/python bench/soak.py [--frames 10000] [--every 500] [--blender bpy|blender]
    .venv/bin/python bench/soak.py --smoke

Prints the RSS curve (MiB) and the growth from the first sample to the last.
--smoke: the tiniest run to the end (20 frames at 32x24, a sample every 5):
what the test suite runs (tests/python/test_bench.py); its figures mean nothing.
"""
import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build", "dev", "python"))
import blendarray as ba  # noqa: E402


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--engine", default="WORKBENCH")
    ap.add_argument("--blender", default=None)
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (20 frames at 32x24, a sample every 5): "
                         "what the test suite runs; its figures mean nothing")
    a = ap.parse_args()
    size = (64, 64)
    if a.smoke:
        a.frames, a.every, size = 20, 5, (32, 24)
    rows = []
    t0 = time.time()
    with ba.Renderer(passes=["rgba", "depth"], engine=a.engine, samples=1, resolution=size,
                     blender=a.blender) as r:
        pids = lambda: [p for p in r.worker_pids() if p]  # noqa: E731  (0: restarting)
        for f in r.frames(a.frames):
            i = f.meta["index"]
            if i % a.every == 0 or i == a.frames - 1:
                rows.append((i, time.time() - t0, rss_mib(os.getpid()), [rss_mib(p) for p in pids()]))
                print(f"frame {i:6d}  {rows[-1][1]:7.1f} s  consumer {rows[-1][2]:7.1f} MiB  "
                      f"workers {' '.join(f'{m:7.1f}' for m in rows[-1][3])} MiB", flush=True)
    first, last = rows[1] if len(rows) > 1 else rows[0], rows[-1]  # skip the warm-up sample
    print(f"\n{a.frames} frames in {last[1]:.0f} s ({a.frames / last[1]:.0f} fps); RSS growth from "
          f"frame {first[0]} to {last[0]}: consumer {last[2] - first[2]:+.1f} MiB, workers "
          + " ".join(f"{b - c:+.1f}" for b, c in zip(last[3], first[3])) + " MiB")


if __name__ == "__main__":
    main()
