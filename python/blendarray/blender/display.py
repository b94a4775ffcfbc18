"""display=True at memory speed: Blender's colour management applied by
blendarray to the float `rgba` pass it captured, instead of asking Blender
to save (and blendarray to decode) a PNG.

The view transform is OpenColorIO's, run by the OpenColorIO library of the
Blender that rendered, through the PyOpenColorIO binding that Blender ships
(so the library, its version and its config are Blender's own, whatever the
Blender), with the group of transforms Blender builds (exposure, look, view,
display, gamma), on row blocks in several threads. Blender's steps around it
(predivide, straight alpha, dither, rounding) are C (ba_display_predivide,
ba_display_rows). Where this cannot be exact (a curve mapping, the
compositor or sequencer making the image, white balance, several view
layers, no matching PyOpenColorIO), Blender's own route makes the image, and
frame.meta["display_route"] says which did ("ocio" or "blender", with
"display_fallback" saying why).
"""
import ctypes
import glob
import importlib.util
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import bpy
import numpy as np

from .. import _lib

_F = np.float32
_state = {}  # "ocio", "config": (value, None) or (None, why); "display": (key, Display);
            # thread pools by size; "scratch": each thread's block buffer
_processors = {}  # CPU processors by colour-management settings


def _ocio():
    """PyOpenColorIO bound to Blender's own OpenColorIO, or (None, why not)."""
    if "ocio" in _state:
        return _state["ocio"]
    mod = sys.modules.get("PyOpenColorIO")
    if mod is None:
        try:
            import PyOpenColorIO as mod  # Blender's Python has it on its path (Debian: apt)
        except ImportError:
            mod = None
    if mod is None:  # bpy: Blender's own packages are not on sys.path; load that one only
        for d in glob.glob(os.path.join(bpy.utils.resource_path("LOCAL"), "python", "lib",
                                        "python3*", "site-packages", "PyOpenColorIO")):
            spec = importlib.util.spec_from_file_location(
                "PyOpenColorIO", os.path.join(d, "__init__.py"), submodule_search_locations=[d])
            if spec is not None:
                mod = importlib.util.module_from_spec(spec)
                sys.modules["PyOpenColorIO"] = mod
                try:
                    spec.loader.exec_module(mod)
                except ImportError:
                    del sys.modules["PyOpenColorIO"]
                    mod = None
                break
    if mod is None:
        got = (None, "this Blender has no PyOpenColorIO (its OpenColorIO's Python binding)")
    else:
        ours = tuple(int(x) for x in mod.GetVersion().split(".")[:3])
        blenders = tuple(int(x) for x in str(bpy.app.ocio.version_string).replace(" ", "")
                         .split(",")[:3] if x.isdigit())
        got = (mod, None) if ours == blenders else (
            None, f"PyOpenColorIO is OpenColorIO {mod.GetVersion()}, Blender's is "
                  f"{'.'.join(map(str, blenders))}")
    _state["ocio"] = got
    return got


def _config(ocio):
    if "config" not in _state:
        path = os.environ.get("OCIO")  # Blender's own rule: $OCIO first
        if not path:
            for base in (bpy.utils.system_resource("DATAFILES", path="colormanagement"),
                         os.path.join(bpy.utils.resource_path("LOCAL"), "datafiles",
                                      "colormanagement"),
                         os.path.join(bpy.utils.resource_path("SYSTEM"), "datafiles",
                                      "colormanagement")):
                if base and os.path.isfile(os.path.join(base, "config.ocio")):
                    path = os.path.join(base, "config.ocio")
                    break
        try:
            _state["config"] = (ocio.Config.CreateFromFile(path), None) if path else (
                None, "Blender's OpenColorIO config (datafiles/colormanagement/config.ocio) "
                      "was not found")
        except Exception as e:  # an unreadable config: Blender falls back on its own
            _state["config"] = (None, f"OpenColorIO cannot read {path}: {e}")
    return _state["config"]


def _noise(dither):
    """Blender's dither noise for this version, or None if not known."""
    if not dither:
        return _lib.DITHER_HASH  # unused
    v = tuple(bpy.app.version)
    if v < (4, 0, 0):
        return _lib.DITHER_SINES
    if v >= (4, 5, 0):
        return _lib.DITHER_HASH
    return None  # 4.0 .. 4.4: not checked against Blender's own output


def _compositing(scene):
    if not scene.render.use_compositing:
        return False
    group = getattr(scene, "compositing_node_group", None)  # Blender 5
    if group is not None:
        return True
    return bool(getattr(scene, "use_nodes", False) and getattr(scene, "node_tree", None))


def _sequencing(scene):
    ed = scene.sequence_editor
    if not scene.render.use_sequencer or ed is None:
        return False
    return bool(len(getattr(ed, "strips_all", None) or getattr(ed, "sequences_all", ())))


def several_layers(layer_names):
    """Why several rendering view layers take Blender's route."""
    return (f"the scene renders {len(layer_names)} view layers ({', '.join(layer_names)}): "
            "Blender's image of several layers is its compositor's (without one, the first "
            "layer's), which blendarray does not make")


def plan(scene, layer_names):
    """(processor, dither, noise) for this scene's colour management, or (None, why not)."""
    vs, ds = scene.view_settings, scene.display_settings
    why = None
    if len(layer_names) > 1:
        why = several_layers(layer_names)
    elif _compositing(scene):
        why = "the compositor makes Blender's image (render.use_compositing)"
    elif _sequencing(scene):
        why = "the sequencer makes Blender's image (render.use_sequencer)"
    elif vs.use_curve_mapping:
        why = "the view's curve mapping is on (Blender applies it outside OpenColorIO)"
    elif getattr(vs, "use_white_balance", False):
        why = "white balance is on"
    elif getattr(ds, "emulation", "AUTO") not in ("AUTO", "OFF"):
        why = f"display emulation is {ds.emulation}"
    if why:
        return None, why
    ocio, why = _ocio()
    if ocio is None:
        return None, why
    config, why = _config(ocio)
    if config is None:
        return None, why
    cs = getattr(bpy.data, "colorspace", None)  # Blender 5: a working space of the user's choice
    linear = config.getColorSpace(ocio.ROLE_SCENE_LINEAR)
    if cs is not None and linear is not None and cs.working_space != linear.getName():
        return None, f"the working colour space is {cs.working_space}, not the config's scene linear"
    dither = float(scene.render.dither_intensity)
    noise = _noise(dither)
    if noise is None:
        return None, f"Blender {bpy.app.version_string}'s dither noise is not known to blendarray"
    key = (vs.view_transform, vs.look, vs.exposure, vs.gamma, ds.display_device)
    cpu = _processors.get(key)
    if cpu is None:
        try:
            cpu = _processors[key] = _processor(ocio, config, *key)
        except Exception as e:
            return None, f"OpenColorIO cannot make the view transform {key[0]!r}: {e}"
    return (cpu, dither, noise), None


_libm = ctypes.CDLL("libm.so.6")
_libm.powf.restype, _libm.powf.argtypes = ctypes.c_float, [ctypes.c_float, ctypes.c_float]


def _processor(ocio, config, view, look, exposure, gamma, display):
    """The CPU processor of the transforms Blender groups for its display image
    (intern/opencolorio: createDisplayProcessor), with Blender's float arithmetic."""
    scale = 1.0 if exposure == 0.0 else float(_libm.powf(2.0, exposure))
    exponent = 1.0 if gamma == 1.0 else float(_F(1.0) / max(_F(np.finfo(_F).eps), _F(gamma)))
    group = ocio.GroupTransform()
    src = ocio.ROLE_SCENE_LINEAR
    if scale != 1.0:
        group.appendTransform(ocio.ColorSpaceTransform(src=src, dst=ocio.ROLE_SCENE_LINEAR))
        group.appendTransform(ocio.MatrixTransform([scale, 0, 0, 0, 0, scale, 0, 0,
                                                    0, 0, scale, 0, 0, 0, 0, 1]))
    use_look = look not in ("", "None")
    if use_look:
        # LookTransform::GetLooksResultColorSpace (not in the binding): the look's process space
        lk = config.getLook(look)
        out = lk.getProcessSpace() if lk is not None else ""
        if out:
            group.appendTransform(ocio.LookTransform(src=src, dst=out, looks=look))
            src = out
        else:
            use_look = False
    group.appendTransform(ocio.DisplayViewTransform(src=src, display=display, view=view,
                                                    looksBypass=use_look))
    if exponent != 1.0:
        group.appendTransform(ocio.ExponentTransform([exponent, exponent, exponent, 1.0]))
    return config.getProcessor(group).getDefaultCPUProcessor()


def _threads(scene):
    """Blender's own render threads: threads= (FIXED), else one per core it may use."""
    if scene.render.threads_mode == "FIXED":
        return max(1, scene.render.threads)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


BLOCK_ROWS = 32  # a block's float copy (32 rows of 1080p: 1 MB) stays in a core's L2
# pixels a thread must have for a helper thread to pay (about 0.4 ms of work: the
# hand-over to a pool thread and back costs 0.1-0.2 ms; a 64x64 frame's display took
# 0.46 ms of the main thread's CPU on two threads, 0.2 on one)
PIXELS_A_THREAD = 16384


def _blocks(h, rows, threads):
    """(first row, rows) of each block: whole blocks, then the last `threads`
    blocks' rows in quarter blocks, so that the threads end close together
    (a whole block of 1080p is 1.3 to 1.8 ms of a thread)."""
    small = max(1, rows // 4)
    tail = min(h, threads * rows) if threads > 1 else 0
    out, y = [], 0
    while y < h:
        n = min(rows if h - y > tail else small, h - y)
        out.append((y, n))
        y += n
    return out


def make(the_plan, rgba, out, scene):
    """The display bytes of the float (H, W, 4) `rgba` into `out` (uint8, same
    shape), block of rows by block of rows on Blender's number of threads (this
    one among them): each block is copied and predivided (C), view-transformed
    (OpenColorIO) and made bytes (C), all three without the GIL. Each thread
    takes the next block when done with its last (one pool task per thread,
    not per block), and calls the C library with the addresses worked out
    here, not through _lib's checking wrappers (those wrappers and a pool task
    per block cost about 1.5 ms of a 1080p frame)."""
    cpu, dither, noise = the_plan
    h, w = rgba.shape[:2]
    _lib._rgba_f32(rgba, "display: rgba")
    if out.dtype.name != "uint8" or out.shape != rgba.shape or not out.flags.c_contiguous:
        raise ValueError(f"display: out must be a C-contiguous {rgba.shape} uint8 array")
    key = (h, w, dither, noise)
    last = _state.get("display")
    if last is None or last[0] != key:  # only the last: its noise table is a float a pixel
        last = _state["display"] = (key, _lib.Display(h, w, dither, noise))
    disp = last[1]
    local = _state.setdefault("scratch", threading.local())
    lib, handle, check = _lib.lib, disp._h, _lib.check
    src, dst, src_row, dst_row = rgba.ctypes.data, out.ctypes.data, 16 * w, 4 * w
    rows = BLOCK_ROWS
    threads = min(_threads(scene), -(-h // rows), max(1, h * w // PIXELS_A_THREAD))
    blocks = iter(_blocks(h, rows, threads))
    take = threading.Lock()

    def work():
        buf = getattr(local, "buf", None)
        if buf is None or buf.shape != (rows, w, 4):
            buf = local.buf = np.empty((rows, w, 4), _F)
        at = buf.ctypes.data
        while True:
            with take:
                y0, n = next(blocks, (None, 0))
            if y0 is None:
                return
            part = buf if n == rows else buf[:n]
            err = lib.ba_display_predivide(at, src + y0 * src_row, n * w)
            if err:
                check(err, "predivide")
            cpu.applyRGBA(part)
            err = lib.ba_display_rows(handle, dst + y0 * dst_row, at, y0, n)
            if err:
                check(err, "display rows", f"rows {y0}..{y0 + n} of {h}")

    n = threads
    if n <= 1:
        work()
        return out
    pool = _state.get(("pool", n))
    if pool is None:  # this thread is the n-th
        pool = _state[("pool", n)] = ThreadPoolExecutor(n - 1, thread_name_prefix="ba-display")
    helpers = [pool.submit(work) for _ in range(n - 1)]
    try:
        work()
    finally:  # never return (or raise) while a helper may still write to out
        for f in helpers:
            f.exception()
    for f in helpers:
        f.result()
    return out
