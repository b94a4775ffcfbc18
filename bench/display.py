"""display=True's cost beside OpenColorIO's own CPU processor, inside Blender, on one
render of the demo scene (Workbench, or Cycles at 1 sample), measured in the same run:

  ocio     OpenColorIO's processor alone (the one display.plan() builds for the scene's
           display and view), one thread, the whole image, in place on a fresh copy of
           the rgba pass (the copy is not timed)
  floor    ocio / cores: what OpenColorIO alone costs on the cores display=True uses
  make     blendarray's display.make(), what display=True runs (predivide, OpenColorIO,
           straight alpha + dither + bytes, block by block on the cores)
  own      blendarray's own parts alone (predivide + bytes, no OpenColorIO), one thread
           (the bytes made of the view-transformed image, as in make())
  ocio Nt  OpenColorIO's processor alone on the cores, one band of rows each: the floor as
           the machine gives it at the moment (others' work on a shared machine slows it)
  cpu over CPU time (all threads) of make minus that of ocio: blendarray's cost in CPU time,
           which others' work on the machine changes less than wall time

The goal (issue 24): make <= floor + 2 ms at 1920x1080. Prints milliseconds (medians of
--repeat, all measured interleaved: one of each per round), make / floor and make - floor.

Runs inside Blender:
    .venv/bin/python bench/display.py [--size 1920x1080] [--repeat 7] [--engine WORKBENCH]
    blender -b --factory-startup --python bench/display.py -- [options]
--smoke: the tiniest run to the end (64x48, 1 repeat): what the test suite runs
(tests/python/test_bench.py); its figures mean nothing.
"""
import argparse
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "build", "dev", "python"))
import bpy  # noqa: E402
import numpy as np  # noqa: E402

import blendarray.blender as bab  # noqa: E402
from blendarray import _lib  # noqa: E402
from blendarray.blender import display, scenes  # noqa: E402


def own_parts(rgba, viewed, out, disp, buf):
    """Predivide + bytes, block by block as make() does them, without OpenColorIO, one
    thread: blendarray's own work (in CPU time) inside display=True. The bytes are made
    of `viewed` (the view-transformed image, made once): what they see in make()."""
    h, w = rgba.shape[:2]
    rows = buf.shape[0]
    for y0 in range(0, h, rows):
        n = min(rows, h - y0)
        _lib.check(_lib.lib.ba_display_predivide(buf.ctypes.data, rgba[y0:].ctypes.data, n * w),
                   "predivide")
        _lib.check(_lib.lib.ba_display_rows(disp._h, out[y0:].ctypes.data, viewed[y0:].ctypes.data,
                                            y0, n), "display rows")


def ocio_split(cpu, work, pool, cores):
    """OpenColorIO alone on `cores` threads, one band of rows each: the floor as this
    machine gives it at the moment (on a shared machine, other work takes cores)."""
    bands = np.array_split(work, cores)
    list(pool.map(cpu.applyRGBA, bands))


def timed(fn, setup=None):
    """(wall, CPU) seconds of fn(); CPU: this process's, all threads."""
    if setup is not None:
        setup()
    c, t = time.process_time(), time.perf_counter()
    fn()
    return time.perf_counter() - t, time.process_time() - c


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--engine", default="WORKBENCH", choices=["WORKBENCH", "CYCLES"])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (64x48, 1 repeat): what the test suite "
                         "runs; its figures mean nothing")
    a = ap.parse_args(argv)
    if a.smoke:
        a.size, a.repeat = "64x48", 1
    size = tuple(int(v) for v in a.size.split("x"))
    scenes.build_demo()
    scene = bpy.context.scene
    scene.render.use_motion_blur = False
    bab.configure(engine=a.engine, resolution=size, samples=1)
    f = bab.render(passes=["rgba"], keep_settings=True)
    rgba = np.ascontiguousarray(f["rgba"])
    the_plan, why = display.plan(scene, [bpy.context.view_layer.name])
    if the_plan is None:
        sys.exit(f"display=True takes Blender's route here: {why}")
    cpu, dither, noise = the_plan
    cores = display._threads(scene)
    h, w = rgba.shape[:2]
    work = np.empty_like(rgba)
    out, out_own = np.empty(rgba.shape, np.uint8), np.empty(rgba.shape, np.uint8)
    disp = _lib.Display(h, w, dither, noise)
    buf = np.empty((display.BLOCK_ROWS, w, 4), np.float32)
    pool = ThreadPoolExecutor(cores)
    viewed = np.empty_like(rgba)
    _lib.display_predivide(viewed, rgba)
    cpu.applyRGBA(viewed)
    runs = {
        "ocio": (lambda: cpu.applyRGBA(work), lambda: np.copyto(work, rgba)),
        "make": (lambda: display.make(the_plan, rgba, out, scene), None),
        "own": (lambda: own_parts(rgba, viewed, out_own, disp, buf), None),
        "ocio_nt": (lambda: ocio_split(cpu, work, pool, cores), lambda: np.copyto(work, rgba)),
    }
    for fn, setup in runs.values():  # warm: pools, noise tables, block buffers, caches
        timed(fn, setup)
    times = {k: [] for k in runs}
    for _ in range(a.repeat):  # interleaved: a busy moment of the machine hits all alike
        for k, (fn, setup) in runs.items():
            times[k].append(timed(fn, setup))
    ms = {k: statistics.median(t for t, _ in v) * 1e3 for k, v in times.items()}
    cpu_ms = {k: statistics.median(c for _, c in v) * 1e3 for k, v in times.items()}
    ms["floor"] = ms["ocio"] / cores
    vs = scene.view_settings
    ocio_version = ".".join(v.strip() for v in str(bpy.app.ocio.version_string).split(","))
    print(f"\nBlender {bpy.app.version_string}, OpenColorIO {ocio_version}; {a.engine} {w}x{h}, "
          f"view {vs.view_transform!r}, look {vs.look!r}, dither {dither}; {cores} cores; "
          f"ms = median of {a.repeat}, interleaved")
    head = (f"{'size':>10} {'ocio 1t':>8} {'floor':>7} {'make':>7} {'own 1t':>7} "
            f"{'ocio Nt':>8} {'cpu over':>8} {'make/floor':>10} {'make-floor':>10}")
    print(head)
    print("-" * len(head))
    print(f"{f'{w}x{h}':>10} {ms['ocio']:8.2f} {ms['floor']:7.2f} {ms['make']:7.2f} "
          f"{ms['own']:7.2f} {ms['ocio_nt']:8.2f} {cpu_ms['make'] - cpu_ms['ocio']:8.2f} "
          f"{ms['make'] / ms['floor']:10.2f} "
          f"{ms['make'] - ms['floor']:+10.2f}")




if __name__ == "__main__":
    if "--" in sys.argv:
        argv = sys.argv[sys.argv.index("--") + 1:]
    elif "--python" in sys.argv or "-P" in sys.argv:  # Blender's own arguments, none of ours
        argv = []
    else:
        argv = sys.argv[1:]
    main(argv)
