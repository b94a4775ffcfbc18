"""Ray Data source throughput: blendarray.ray.read_renders against a bare Renderer
with the same number of Blender processes, measured in one run on this machine.

  renderer   Renderer(workers=W).frames(N): rgba + depth, arrays touched by the consumer
  ray        read_renders(actors=W, blender_workers=1), consumed with iter_batches (numpy)
  ray-torch  the same, columns= the passes and index, consumed with iter_torch_batches

    .venv/bin/python bench/ray_read.py [--quick] [--workers 2] [--size 64x64] [--frames 8000]
    .venv/bin/python bench/ray_read.py --smoke

Each measurement runs --repeat times, interleaved (renderer, ray, ray-torch,
renderer, ...); the table shows the best of each, the ratio to the renderer and
the per-frame overhead (ms per frame more than the renderer's). Steady state:
the Renderer renders 2 untimed frames per worker first; a Ray run starts its
actors (Ray workers, Blender) on every execution, so its clock runs from the
arrival of the first quarter of the frames (every actor has started by then)
to that of 90% (the last batches arrive together); the start-up, and the
rate with it, are printed apart. Ray runs locally (ray.init(), this machine's
CPUs), with read_renders' default batch size (--quick: 64, --batch-size).

--smoke: the tiniest run to the end (1 Blender process, 32x24, 16 frames, 1
repeat, the default batch size: several batches, so the steady-state clock has
two arrivals to time): what the test suite runs (tests/python/test_bench.py);
its figures mean nothing.
"""
import argparse
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(here, ".."))
sys.path.insert(0, os.path.join(REPO, "build", "dev", "python"))  # the complete package
import blendarray as ba  # noqa: E402

PASSES = ["rgba", "depth"]


def renderer(a, n):
    with ba.Renderer(workers=a.workers, passes=PASSES, engine=a.engine, samples=1,
                     resolution=a.size, threads=1 if a.workers > 1 else None,
                     blender=a.blender) as r:
        list(r.frames(a.workers * 2))  # warm: every worker has rendered and has its ring
        t0 = time.perf_counter()
        for f in r.frames(n):
            f["rgba"][0, 0], f["depth"][0, 0]  # touch
        return n / (time.perf_counter() - t0), None, None


def ray_run(a, n, torch):
    """(steady frames/s, seconds to the first rows, end-to-end frames/s)."""
    from blendarray.ray import read_renders
    ds = read_renders(frames=n, passes=PASSES, engine=a.engine, samples=1, resolution=a.size,
                      threads=1 if a.workers > 1 else None, actors=a.workers,
                      columns=PASSES + ["index"] if torch else None,
                      blender_workers=1, num_cpus=a.num_cpus, batch_size=a.batch_size,
                      blender=a.blender)
    if torch:
        it = ds.iter_torch_batches(batch_size=None)
    else:
        it = ds.iter_batches(batch_size=None, batch_format="numpy")
    t_start = time.perf_counter()
    arrivals = []  # (time, rows so far)
    got = 0
    for b in it:
        b["rgba"][0, 0, 0, 0], b["depth"][-1, 0, 0]  # touch
        got += len(b["index"])
        arrivals.append((time.perf_counter(), got))
    t_end = time.perf_counter()
    if got != n:
        raise RuntimeError(f"read_renders gave {got} rows, not {n}")
    # steady state: from the arrival of the first quarter (every actor has
    # started by then) to that of 90% (before the last batches come in together)
    t0, g0 = next((t, g) for t, g in arrivals if g >= n // 4)
    t1, g1 = next((t, g) for t, g in arrivals if g >= n * 9 // 10)
    return (g1 - g0) / (t1 - t0), arrivals[0][0] - t_start, n / (t_end - t_start)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="fewer frames, one repeat")
    ap.add_argument("--blender", default="bpy")
    ap.add_argument("--engine", default="WORKBENCH")
    ap.add_argument("--size", default="64x64")
    ap.add_argument("--workers", type=int, default=2,
                    help="Blender processes: Renderer workers, and Ray actors x 1 Blender")
    ap.add_argument("--frames", type=int, default=None, help="frames per run (default 8000)")
    ap.add_argument("--batch-size", type=int, default=None, help="read_renders' batch_size")
    ap.add_argument("--num-cpus", type=float, default=1, help="logical CPUs per actor")
    ap.add_argument("--repeat", type=int, default=None, help="interleaved runs (default 2)")
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (1 Blender process, 32x24, 16 frames, "
                         "1 repeat): what the test suite runs; its figures mean nothing")
    a = ap.parse_args()
    if a.smoke:
        a.workers, a.size, a.frames, a.repeat = 1, "32x24", 16, 1
    a.size = tuple(int(x) for x in a.size.split("x"))
    n = a.frames or (2000 if a.quick else 8000)
    if a.quick and a.batch_size is None:
        a.batch_size = 64  # a steadier clock on few frames
    repeat = a.repeat or (1 if a.quick else 2)
    import ray
    ray.init(include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    from ray.data import DataContext
    DataContext.get_current().enable_progress_bars = False
    import ray.train.torch  # noqa: F401  (iter_torch_batches imports it: seconds, not timed)
    print(f"{a.workers} Blender processes, {a.size[0]}x{a.size[1]} {a.engine}, {n} frames, "
          f"rgba + depth; Ray {ray.__version__}, {os.cpu_count()} CPUs, {a.num_cpus:g} per actor",
          flush=True)
    modes = {"renderer": lambda: renderer(a, n), "ray": lambda: ray_run(a, n, False),
             "ray-torch": lambda: ray_run(a, n, True)}
    runs = {k: [] for k in modes}
    for rep in range(repeat):
        for k, fn in modes.items():
            fps, startup, whole = fn()
            runs[k].append(fps)
            print(f"  {k:10} {fps:8.1f} frames/s" +
                  (f"  (first rows after {startup:.1f} s; {whole:.1f} frames/s with the "
                   f"start-up)" if startup is not None else ""), flush=True)
    base = max(runs["renderer"])
    print(f"\nframes per second in steady state, best of {repeat} interleaved runs; ratio to "
          f"the renderer; overhead per frame")
    for k, v in runs.items():
        fps = max(v)
        print(f"{k:10} {fps:8.1f}  {fps / base:6.1%}  {1000 / fps - 1000 / base:+7.3f} ms")
    ray.shutdown()


if __name__ == "__main__":
    main()
