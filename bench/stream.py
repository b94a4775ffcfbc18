"""Streaming throughput: blendarray's Renderer against Blender's own loop and the
ways other tools move frames, measured in one run on the same scene.

  ceiling   Blender rendering the same frames in its own loop, no output
  renderer  blendarray Renderer.frames (rgba + depth, arrays touched by the consumer)
  png/exr   BlenderProc's file round trip: save to /dev/shm, read back
  pickle    blendtorch's way: arrays pickled over a local socket, unpickled here

    .venv/bin/python bench/stream.py [--blender blender|bpy] [--quick]

With W workers, each baseline runs W Blender processes side by side (threads=1
each when W > 1). Prints frames per second and ratios to the ceiling.

Against an earlier blendarray, and Blender's own loop at 64x64 Cycles:

    .venv/bin/python bench/stream.py --baseline-rev HEAD [--cycles64] [--repeat 2] [--stat best|median]
    .venv/bin/python bench/stream.py --cycles64 [--repeat 2]

--baseline-rev REV exports REV (`git archive`, read-only) into a temporary
folder, builds its package there (meson into its build/, or `make python` for a
revision before meson; that folder only) and
measures the same renderer run with both packages: this checkout's ("new") and
REV's ("old"), each in its own Python process (PYTHONPATH names one package,
never both), at 128x128 and 640x480, Workbench and Cycles, 1 and 2 workers.
--cycles64 adds 64x64 Cycles, 300 frames after a warm-up (--warmup frames per
worker, also skipped by the ceiling), the Renderer against the ceiling. Each
measurement runs --repeat times, interleaved (ceiling, old, new, ceiling, old,
new, ...): the table shows the best (or the median) of each, with ratios to the
ceiling and new/old, all measured in the same run.

--smoke: the tiniest run to the end: what the test suite runs
(tests/python/test_bench.py); its figures mean nothing. Alone: the first table
with one configuration (32x24 Workbench, 3 frames, 1 and 2 workers). With
--cycles64: the comparison table, 64x64 Cycles at 3 frames, 1 worker, 1 repeat,
1 warm-up frame (with --baseline-rev: 32x24 Workbench likewise, after the same
build of REV).
"""
import argparse
import json
import os
import pickle
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(here, ".."))
CHILD = len(sys.argv) > 1 and sys.argv[1] == "--child-renderer"
if not CHILD:  # a child measures whichever blendarray its PYTHONPATH names (see run_renderer)
    sys.path.insert(0, os.path.join(REPO, "build", "dev", "python"))  # the complete package
import blendarray as ba  # noqa: E402

SCRIPT = os.path.join(here, "stream_blender.py")


def blender_cmd(flavour, *args):
    from blendarray._renderer import find_blender
    kind, exe = find_blender(flavour)
    if kind == "binary":
        return [exe, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                "--python", SCRIPT, "--", *args]
    return [exe, SCRIPT, *args]


def baseline(flavour, mode, n, size, engine, workers, warm=1, cpu=None):
    """Frames per second of `workers` Blender loops running side by side
    (the first `warm` frames of each not timed). cpu: a list that gets each
    Blender's CPU milliseconds per frame."""
    threads = 1 if workers > 1 else 0
    procs, readers, socks = [], [], []
    tmp = tempfile.mkdtemp(prefix="ba-bench-")
    try:
        for k in range(workers):
            extra = []
            if mode == "pickle":
                path = os.path.join(tmp, f"s{k}")
                srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                srv.bind(path)
                srv.listen(1)
                socks.append(srv)
                extra = [path]
            cmd = blender_cmd(flavour, mode, str(n), str(size[0]), str(size[1]), engine,
                              str(threads), str(warm), *extra)
            procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                          text=True))
        for srv in socks:
            def consume(srv=srv):
                conn, _ = srv.accept()
                f = conn.makefile("rb")
                while True:
                    head = f.read(8)
                    if len(head) < 8:
                        break
                    arrays = pickle.loads(f.read(struct.unpack("<Q", head)[0]))
                    for a in arrays.values():
                        a[0, 0]  # touch
            t = threading.Thread(target=consume, daemon=True)
            t.start()
            readers.append(t)
        fps = 0.0
        for p in procs:
            out, _ = p.communicate(timeout=1800)
            line = [x for x in out.splitlines() if x.startswith("FPS ")]
            if p.returncode != 0 or not line:
                raise RuntimeError(f"{mode} baseline failed:\n{out[-2000:]}")
            fps += float(line[0].split()[1])
            if cpu is not None:
                cpu += [float(x.split()[1]) for x in out.splitlines() if x.startswith("CPU_MS ")]
        for t in readers:
            t.join(timeout=30)
        return fps
    finally:
        for s in socks:
            s.close()
        for p in procs:
            if p.poll() is None:
                p.kill()
        subprocess.run(["rm", "-rf", tmp])


def renderer(flavour, n, size, engine, workers, threads=None, warm=2):
    with ba.Renderer(workers=workers, passes=["rgba", "depth"], engine=engine, samples=1,
                     resolution=size, threads=threads, blender=flavour) as r:
        list(r.frames(workers * warm))  # warm: every worker has rendered and has its ring
        t0 = time.perf_counter()
        for f in r.frames(range(1, n + 1)):
            f["rgba"][0, 0], f["depth"][0, 0]  # touch
        return n / (time.perf_counter() - t0)


def run_renderer(pkg, flavour, n, size, engine, workers, threads, warm):
    """renderer() in a fresh Python whose only blendarray is the one in `pkg`."""
    args = {"flavour": flavour, "n": n, "size": list(size), "engine": engine,
            "workers": workers, "threads": threads, "warm": warm}
    # PYTHONPATH names the package; the .venv's editable install of this checkout steps aside
    env = dict(os.environ, PYTHONPATH=pkg, MESONPY_EDITABLE_SKIP=os.path.join(REPO, "build", "dev"))
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--child-renderer",
                        json.dumps(args)], env=env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=1800)
    line = [x for x in p.stdout.splitlines() if x.startswith("FPS ")]
    if p.returncode != 0 or not line:
        raise RuntimeError(f"renderer run with {pkg} failed:\n{p.stdout[-3000:]}")
    return float(line[0].split()[1])


def child_renderer(spec):
    a = json.loads(spec)
    pkg = os.path.realpath(os.environ["PYTHONPATH"])
    got = os.path.realpath(ba.__file__)
    if not got.startswith(pkg + os.sep):
        raise RuntimeError(f"imported {got}, not the blendarray under {pkg}")
    fps = renderer(a["flavour"], a["n"], tuple(a["size"]), a["engine"], a["workers"],
                   a["threads"], a["warm"])
    print(f"FPS {fps:.3f}", flush=True)


def build_rev(rev, tmp):
    """Export `rev` of this checkout into `tmp` and build its Python package there.
    Returns (commit id, package folder)."""
    commit = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", f"{rev}^{{commit}}"],
                            check=True, stdout=subprocess.PIPE, text=True).stdout.strip()
    git = subprocess.Popen(["git", "-C", REPO, "archive", commit], stdout=subprocess.PIPE)
    tar = subprocess.run(["tar", "-x", "-C", tmp], stdin=git.stdout)
    git.stdout.close()
    if git.wait() != 0 or tar.returncode != 0:
        raise RuntimeError(f"could not export {rev} into {tmp}")
    if os.path.exists(os.path.join(tmp, "meson.build")):  # meson (issue 10 on): the build tree's package
        meson = os.path.join(os.path.dirname(sys.executable), "meson")
        build = os.path.join(tmp, "build")
        cmds = [[meson, "setup", build, tmp, "-Dtests=false", "-Dpython=enabled"], ["ninja", "-C", build]]
        pkg = os.path.join(build, "python")
    else:  # make, copying the compiled parts into python/
        cmds = [["make", "-C", tmp, f"-j{os.cpu_count() or 1}", "python", f"PYTHON={sys.executable}"]]
        pkg = os.path.join(tmp, "python")
    for cmd in cmds:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if p.returncode != 0:
            raise RuntimeError(f"building {rev} in {tmp} failed:\n{p.stdout[-3000:]}")
    return commit, pkg


def compare(a):
    """Ceiling, old Renderer (--baseline-rev) and new Renderer, interleaved."""
    configs = []
    if a.baseline_rev:
        configs += [((128, 128), "WORKBENCH", 300), ((128, 128), "CYCLES", 100),
                    ((640, 480), "WORKBENCH", 100), ((640, 480), "CYCLES", 30)]
        if a.quick:
            configs = [((128, 128), "WORKBENCH", 60), ((128, 128), "CYCLES", 30)]
        if a.smoke:
            configs = [((32, 24), "WORKBENCH", 3)]
    if a.cycles64:
        configs.append(((64, 64), "CYCLES", 3 if a.smoke else 60 if a.quick else 300))
    workers_list = [int(w) for w in a.workers.split(",")]
    pick = max if a.stat == "best" else statistics.median
    tmp = tempfile.mkdtemp(prefix="ba-bench-rev-")
    try:
        pkgs = {"new": os.path.join(REPO, "build", "dev", "python")}
        commit = None
        if a.baseline_rev:
            t0 = time.perf_counter()
            commit, pkgs["old"] = build_rev(a.baseline_rev, tmp)
            print(f"built {a.baseline_rev} ({commit}) in {tmp} in {time.perf_counter() - t0:.0f} s",
                  flush=True)
        rows = []
        for size, engine, n in configs:
            for workers in workers_list:
                threads = 1 if workers > 1 else None
                runs = {"ceiling": []}
                runs.update({k: [] for k in pkgs})
                for rep in range(a.repeat):
                    runs["ceiling"].append(baseline(a.blender, "none", n, size, engine, workers,
                                                    warm=a.warmup))
                    for k in (("old", "new") if "old" in pkgs else ("new",)):
                        runs[k].append(run_renderer(pkgs[k], a.blender, n * workers, size, engine,
                                                    workers, threads, a.warmup))
                r = {"size": f"{size[0]}x{size[1]}", "engine": engine, "workers": workers,
                     "frames": n * workers, "runs": runs}
                r.update({k: pick(v) for k, v in runs.items()})
                rows.append(r)
                print("  ", {k: v for k, v in r.items() if k != "runs"},
                      {k: [round(x, 1) for x in v] for k, v in runs.items()}, flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    old = "old" in pkgs
    print(f"\nframes per second, {a.stat} of {a.repeat} interleaved runs (ratio to the ceiling); "
          f"rgba + depth; threads=1 per worker with 2 workers; warm-up {a.warmup} frame(s) "
          f"per worker untimed")
    print("new = this checkout" + (f", old = {a.baseline_rev} ({commit})" if old else ""))
    head = f"{'size':9} {'engine':10} {'workers':>7} {'frames':>6} {'ceiling':>8} "
    if old:
        head += f"{'old Renderer':>16} "
    head += f"{'new Renderer':>16}" + (f" {'new/old':>8}" if old else "")
    print(head)
    for r in rows:
        c = r["ceiling"]
        line = f"{r['size']:9} {r['engine']:10} {r['workers']:7d} {r['frames']:6d} {c:8.1f} "
        if old:
            line += f"{r['old']:8.1f} ({r['old'] / c:5.1%}) "
        line += f"{r['new']:8.1f} ({r['new'] / c:5.1%})"
        if old:
            line += f" {r['new'] / r['old']:8.3f}"
        print(line)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blender", default=None)
    ap.add_argument("--quick", action="store_true", help="fewer frames, fewer configs")
    ap.add_argument("--baseline-rev", metavar="REV",
                    help="also measure the Renderer of this git revision (e.g. HEAD), same run")
    ap.add_argument("--cycles64", action="store_true",
                    help="64x64 Cycles, 300 frames: the Renderer against Blender's own loop")
    ap.add_argument("--repeat", type=int, default=2, help="interleaved runs of each measurement")
    ap.add_argument("--stat", choices=("best", "median"), default="best")
    ap.add_argument("--warmup", type=int, default=2, help="untimed frames per worker first")
    ap.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (one configuration, 3 frames; with "
                         "--cycles64 or --baseline-rev: 1 worker, 1 repeat): what the test suite "
                         "runs; its figures mean nothing")
    a = ap.parse_args()
    if a.baseline_rev or a.cycles64:
        if a.smoke:
            a.repeat, a.warmup, a.workers = 1, 1, "1"
        return compare(a)
    configs = [((128, 128), "WORKBENCH", 300), ((128, 128), "CYCLES", 100),
               ((640, 480), "WORKBENCH", 100), ((640, 480), "CYCLES", 30)]
    if a.quick:
        configs = [((128, 128), "WORKBENCH", 60), ((128, 128), "CYCLES", 30)]
    if a.smoke:  # 1 and 2 workers: the scaling line needs both
        configs = [((32, 24), "WORKBENCH", 3)]
    rows = []
    for size, engine, n in configs:
        for workers in (1, 2):
            r = {"size": f"{size[0]}x{size[1]}", "engine": engine, "workers": workers}
            r["ceiling"] = baseline(a.blender, "none", n, size, engine, workers)
            r["renderer"] = renderer(a.blender, n * workers, size, engine, workers,
                                     1 if workers > 1 else None)
            r["renderer_t1"] = (r["renderer"] if workers > 1 else
                                renderer(a.blender, n, size, engine, 1, threads=1))
            for mode in ("png", "exr", "pickle"):
                r[mode] = baseline(a.blender, mode, n, size, engine, workers)
            rows.append(r)
            print("  ", r, flush=True)
    print(f"\nframes per second (ratio to the ceiling); rgba + depth; threads=1 per worker with 2 workers")
    print(f"{'size':9} {'engine':10} {'workers':>7} {'ceiling':>8} {'blendarray':>16} {'PNG files':>16} "
          f"{'EXR files':>16} {'pickle socket':>16}")
    for r in rows:
        c = r["ceiling"]
        cells = " ".join(f"{r[k]:8.1f} ({r[k] / c:4.0%})" for k in ("renderer", "png", "exr", "pickle"))
        print(f"{r['size']:9} {r['engine']:10} {r['workers']:7d} {c:8.1f} {cells}")
    for size, engine in {(r["size"], r["engine"]) for r in rows}:
        one = [r for r in rows if (r["size"], r["engine"], r["workers"]) == (size, engine, 1)][0]
        two = [r for r in rows if (r["size"], r["engine"], r["workers"]) == (size, engine, 2)][0]
        print(f"scaling {size} {engine}, threads=1 per worker: 2 workers / 1 worker = "
              f"{two['renderer_t1'] / one['renderer_t1']:.2f}x")


if __name__ == "__main__":
    if CHILD:
        child_renderer(sys.argv[2])
    else:
        main()
