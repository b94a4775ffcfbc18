"""Per-frame capture overhead (render finished -> arrays ready), against
baselines measured in the same run on the same render:

  memcpy   copying the same bytes once (the floor)
  PNG      Blender saves the render as PNG (its default compression) to /dev/shm, libpng decodes it
  EXR      Blender saves a multilayer EXR (ZIP, 32-bit) to /dev/shm, OpenEXRCore loads every channel
(The readers are the C library's libpng and OpenEXRCore wrappers: Python
bindings of other builds of those libraries crash inside Debian's Blender.)
  render   the render itself
  display  Blender's own route to the display image (its colour management, an 8-bit PNG
           into a memfd, libpng): display="blender"
  fast     blendarray's display=True: Blender's OpenColorIO applied to the rgba pass by
           blendarray (blendarray/blender/display.py), and its ratio to `display`
  u8 cpy   a memcpy of the display image's uint8 bytes (the goal's floor)

Runs inside Blender:
    .venv/bin/python bench/capture.py [--sizes 640x480,1920x1080] [--repeat 5]
    blender -b --factory-startup --python bench/capture.py -- [options]
Prints milliseconds (median of --repeat) and ratios to memcpy; absolute times mean
little on a shared machine, ratios measured side by side do.
--smoke (`.venv/bin/python bench/capture.py --smoke`): the tiniest run to the end
(32x24, every engine, 1 repeat): what the test suite runs
(tests/python/test_bench.py); its figures mean nothing.
"""
import argparse
import os
import statistics
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "build", "dev", "python"))
import bpy  # noqa: E402
import numpy as np  # noqa: E402

import blendarray.blender as bab  # noqa: E402
from blendarray import _lib  # noqa: E402
from blendarray.blender import display as fast_display  # noqa: E402
from blendarray.blender import routes, scenes  # noqa: E402
from blendarray.blender.routes import output_size  # noqa: E402

PASSES = {  # "all passes": what each engine renders of the common ones
    "CYCLES": ["rgba", "depth", "normal", "object_index", "vector"],
    "EEVEE": ["rgba", "depth", "normal"],
    "WORKBENCH": ["rgba", "depth"],
}


class Reuse:
    """Destination arrays allocated (and touched) once, reused for every frame,
    as the shared-memory ring does: first-touch page faults are not capture cost."""

    def __init__(self):
        self.cache = {}

    def __call__(self, specs):
        out = {}
        for s in specs:
            key = (s.name, s.shape, s.dtype)
            if key not in self.cache:
                self.cache[key] = np.ones(s.shape, s.dtype)
            out[s.name] = self.cache[key]
        return out


def median_ms(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def save_settings(scene, **kw):
    s = scene.render.image_settings
    for k, v in kw.items():
        if hasattr(s, k):
            setattr(s, k, v)


def png_roundtrip(scene):
    save_settings(scene, media_type="IMAGE", file_format="PNG", color_mode="RGBA",
                  color_depth="8", compression=15)
    path = "/dev/shm/blendarray-bench.png"
    bpy.data.images["Render Result"].save_render(filepath=path, scene=scene)
    w, h = output_size(scene)
    fd = os.open(path, os.O_RDONLY)
    try:
        _lib.png_decode_rgba8_fd(fd, np.empty((h, w, 4), np.uint8))
    finally:
        os.close(fd)
        os.unlink(path)


def exr_roundtrip(scene):
    save_settings(scene, media_type="MULTI_LAYER_IMAGE", file_format="OPEN_EXR_MULTILAYER",
                  exr_codec="ZIP", color_depth="32", use_exr_interleave=True)
    path = "/dev/shm/blendarray-bench.exr"
    bpy.data.images["Render Result"].save_render(filepath=path, scene=scene)
    fd = os.open(path, os.O_RDONLY)
    try:
        with _lib.Exr(fd) as exr:  # every channel, in one walk over the file
            exr.read_many([([name], np.empty((exr.height, exr.width), np.float32))
                           for name in exr.channels])
    finally:
        os.close(fd)
        os.unlink(path)


def bench(engine, size, passes, repeat):
    scene = bpy.context.scene
    bab.configure(engine=engine, resolution=size, samples=1 if engine != "WORKBENCH" else 1)
    reuse = Reuse()
    renders, captures = [], []
    n = repeat if engine == "CYCLES" else 1  # the Cycles route captures inside each render
    for _ in range(n + (1 if engine == "CYCLES" else 0)):
        f = bab.render(passes=passes, alloc=reuse, keep_settings=True)
        renders.append(f.meta["render_seconds"] * 1e3)
        captures.append(f.meta["capture_seconds"] * 1e3)
    if engine == "CYCLES":  # the first frame warms the caches; drop it
        renders, captures = renders[1:], captures[1:]
        capture = statistics.median(captures)
        route = "cycles hook"
    else:
        capture = median_ms(lambda: bab.capture(passes=passes, alloc=reuse), repeat)
        route = "exr memfd"
    nbytes = sum(a.nbytes for a in f.values())
    src, dst = np.ones(nbytes, np.uint8), np.zeros(nbytes, np.uint8)
    memcpy = median_ms(lambda: np.copyto(dst, src), repeat * 4)
    display = median_ms(lambda: routes.capture_display(scene, reuse), repeat)
    fast = u8 = float("nan")
    if "rgba" in f:
        the_plan, why = fast_display.plan(scene, [bpy.context.view_layer.name])
        if the_plan is None:
            print(f"  (no fast display: {why})")
        else:
            rgba = np.asarray(f["rgba"])
            out = np.empty(rgba.shape, np.uint8)
            fast = median_ms(lambda: fast_display.make(the_plan, rgba, out, scene), repeat)
            s8, d8 = np.ones(out.nbytes, np.uint8), np.zeros(out.nbytes, np.uint8)
            u8 = median_ms(lambda: np.copyto(d8, s8), repeat * 4)
    png = median_ms(lambda: png_roundtrip(scene), repeat)
    exr = median_ms(lambda: exr_roundtrip(scene), repeat)
    return dict(engine=engine, size=f"{size[0]}x{size[1]}", passes=len(f), mb=nbytes / 2**20,
                route=route, capture=capture, memcpy=memcpy, png=png, exr=exr, display=display,
                fast=fast, u8=u8, render=statistics.median(renders))


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="640x480,1920x1080")
    ap.add_argument("--engines", default="CYCLES,EEVEE,WORKBENCH")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (32x24, every engine, 1 repeat): what the "
                         "test suite runs; its figures mean nothing")
    a = ap.parse_args(argv)
    if a.smoke:  # every engine still: each has its own capture route
        a.sizes, a.repeat = "32x24", 1
    scenes.build_demo()
    bpy.context.scene.render.use_motion_blur = False
    rows = []
    for size in [tuple(int(v) for v in s.split("x")) for s in a.sizes.split(",")]:
        for engine in a.engines.split(","):
            for label, passes in (("all", PASSES[engine]), ("rgba", ["rgba"])):
                r = bench(engine, size, passes, a.repeat)
                r["which"] = label
                rows.append(r)
                print(f"  {engine} {r['size']} {label}: capture {r['capture']:.2f} ms", flush=True)
    print(f"\nBlender {bpy.app.version_string}; ms = median of {a.repeat}; x = ratio to memcpy of the same bytes")
    head = (f"{'engine':10} {'size':10} {'passes':>7} {'MiB':>6} {'route':12} {'capture':>9} {'x':>5} "
            f"{'memcpy':>7} {'PNG':>8} {'x':>6} {'EXR zip':>8} {'x':>6} {'render':>8} {'display':>8} "
            f"{'fast':>7} {'x':>5} {'u8 cpy':>7}")
    print(head)
    print("-" * len(head))
    for r in rows:
        m = r["memcpy"]
        print(f"{r['engine']:10} {r['size']:10} {r['which'] + ' ' + str(r['passes']):>7} {r['mb']:6.1f} "
              f"{r['route']:12} {r['capture']:9.2f} {r['capture'] / m:5.1f} {m:7.2f} "
              f"{r['png']:8.1f} {r['png'] / m:6.0f} {r['exr']:8.1f} {r['exr'] / m:6.0f} {r['render']:8.0f} "
              f"{r['display']:8.1f} {r['fast']:7.1f} {r['display'] / r['fast']:5.1f} {r['u8']:7.2f}")


if __name__ == "__main__":
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    main(argv)
