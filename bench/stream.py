"""Streaming throughput: blendarray's Renderer against Blender's own loop and the
ways other tools move frames, measured in one run on the same scene.

  ceiling   Blender rendering the same frames in its own loop, no output
  renderer  blendarray Renderer.frames (rgba + depth, arrays touched by the consumer)
  png/exr   BlenderProc's file round trip: save to /dev/shm, read back
  pickle    blendtorch's way: arrays pickled over a local socket, unpickled here

    .venv/bin/python bench/stream.py [--blender blender|bpy] [--quick]

With W workers, each baseline runs W Blender processes side by side (threads=1
each when W > 1). Prints frames per second and ratios to the ceiling.
"""
import argparse
import os
import pickle
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "python"))
import blendarray as ba  # noqa: E402
from blendarray._worker import find_blender  # noqa: E402

SCRIPT = os.path.join(here, "stream_blender.py")


def blender_cmd(flavour, *args):
    kind, exe = find_blender(flavour)
    if kind == "binary":
        return [exe, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                "--python", SCRIPT, "--", *args]
    return [exe, SCRIPT, *args]


def baseline(flavour, mode, n, size, engine, workers):
    """Frames per second of `workers` Blender loops running side by side."""
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
                              str(threads), *extra)
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


def renderer(flavour, n, size, engine, workers, threads=None):
    with ba.Renderer(workers=workers, passes=["rgba", "depth"], engine=engine, samples=1,
                     resolution=size, threads=threads, blender=flavour) as r:
        list(r.frames(workers * 2))  # warm: every worker has rendered and has its ring
        t0 = time.perf_counter()
        for f in r.frames(range(1, n + 1)):
            f["rgba"][0, 0], f["depth"][0, 0]  # touch
        return n / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--blender", default=None)
    ap.add_argument("--quick", action="store_true", help="fewer frames, fewer configs")
    a = ap.parse_args()
    configs = [((128, 128), "WORKBENCH", 300), ((128, 128), "CYCLES", 100),
               ((640, 480), "WORKBENCH", 100), ((640, 480), "CYCLES", 30)]
    if a.quick:
        configs = [((128, 128), "WORKBENCH", 60), ((128, 128), "CYCLES", 30)]
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
    main()
