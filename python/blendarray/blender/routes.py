"""Capture routes: how the passes of a finished render get into arrays.

- Cycles (a Python-defined RenderEngine): the engine class's
  render_frame_finish is wrapped; after Cycles has written its final pixels,
  each wanted pass is copied once with RenderPass.rect.foreach_get straight
  into its destination array, then its rows are flipped in place (C).
  Reading earlier, during render(), can crash Blender with tiled rendering.
- Every engine (EEVEE and Workbench are C engines with no Python hook, and
  the fallback for Cycles): 'Render Result' is saved as an uncompressed 32-bit
  multilayer EXR into a memfd (RAM only, never a disk file); the C library
  decodes the wanted channels straight into the destination arrays.
- display=True: 'Render Result' is saved as an 8-bit PNG into a memfd, so
  Blender's own colour management (view transform, look, exposure, gamma,
  dither) makes the pixels, then the C library decodes it with libpng.
"""
import os
import time

import bpy
import numpy as np

from .. import _lib
from .._errors import BlendArrayError, PassError, RenderError, did_you_mean
from . import passes as P


class PassSpec:
    """One pass of a render result, as the user will get it."""
    __slots__ = ("name", "layer", "blender_name", "channel_id", "height", "width", "dtype")

    def describe(self):
        """What the pass is in Blender's terms (for frame.meta["passes"])."""
        return {"layer": self.layer, "blender_pass": self.blender_name, "channels": self.channel_id}

    def __init__(self, name, layer, blender_name, channel_id, height, width, dtype):
        self.name, self.layer, self.blender_name = name, layer, blender_name
        self.channel_id, self.height, self.width, self.dtype = channel_id, height, width, dtype

    @property
    def shape(self):
        c = len(self.channel_id)
        return (self.height, self.width) if c == 1 else (self.height, self.width, c)


def numpy_alloc(specs):
    """The in-process allocator: fresh numpy arrays."""
    return {s.name: np.empty(s.shape, s.dtype) for s in specs}


def select(available, wanted, layer_names, aovs):
    """Pick the specs the user asked for from what the render produced, naming
    them for the user: 'depth', or 'Layer/depth' when several layers rendered.

    available: list of (layer, blender_name, channel_id); wanted: None (all) or
    a list of names already validated against the settings.
    """
    multi = len(layer_names) > 1
    by_name = {}
    for layer, bname, chan in available:
        base = P.stable_name(bname, aovs.get(layer, ()))
        name = f"{layer}/{base}" if multi else base
        by_name[name] = (layer, bname, chan, base)
    if wanted is None:  # every pass, in one order whatever the route: layers, then KNOWN's order
        rank = {n: i for i, n in enumerate(P.KNOWN)}
        return sorted(by_name.items(), key=lambda kv: (
            layer_names.index(kv[1][0]), rank.get(kv[1][3], len(rank)), kv[1][3]))
    chosen, missing = [], []
    for w in wanted:
        layer, base = P.split_layer(w, layer_names) if multi else (None, w)
        keys = [f"{layer}/{base}"] if layer else (
            [f"{ln}/{base}" for ln in layer_names] if multi else [base])
        if base.startswith("cryptomatte_") and base.count("_") == 1:  # 'cryptomatte_object': all its layers
            keys = [k for k in by_name if any(k.startswith(x + "_") for x in keys)]
        for k in keys or [w]:
            (chosen if k in by_name else missing).append(k)
    if missing:
        raise PassError(
            f"the {bpy.context.scene.render.engine} render did not produce pass(es) "
            f"{', '.join(missing)}{did_you_mean(missing[0], by_name)}; this engine's render has: "
            f"{', '.join(by_name)}", by_name)
    seen = set()
    return [(k, by_name[k]) for k in chosen if not (k in seen or seen.add(k))]


def _make_specs(selected, height, width):
    return [PassSpec(name, layer, bname, chan, height, width, P.dtype_of(base))
            for name, (layer, bname, chan, base) in selected]


# ----------------------------------------------------------------------------
# Cycles: wrap render_frame_finish
# ----------------------------------------------------------------------------

class CyclesRequest:
    """Armed before a Cycles render; filled by the hook at render_frame_finish."""

    def __init__(self, wanted, layer_names, aovs, alloc):
        self.wanted, self.layer_names, self.aovs, self.alloc = wanted, layer_names, aovs, alloc
        self.arrays = None
        self.specs = None
        self.error = None
        self.seconds = 0.0

    def collect(self, engine):
        t0 = time.perf_counter()
        result = engine.get_result()
        h, w = result.resolution_y, result.resolution_x
        available, rects = [], {}
        for layer in result.layers:
            for p in layer.passes:
                available.append((layer.name, p.name, p.channel_id))
                rects[(layer.name, p.name)] = p.rect
        selected = select(available, self.wanted, self.layer_names, self.aovs)
        specs = _make_specs(selected, h, w)
        arrays = self.alloc(specs)
        scratch = None
        for s in specs:
            dst = arrays[s.name]
            rect = rects[(s.layer, s.blender_name)]
            if dst.dtype == np.float32:
                _rect_get(rect, dst, len(s.channel_id))
                _lib.flip_rows(dst)
            else:  # index passes: float in Blender, int32 for the user
                if scratch is None:
                    scratch = np.empty((h, w), np.float32)
                _rect_get(rect, scratch, 1)
                _lib.flip_rows(scratch)
                _lib.f32_to_i32(dst, scratch)
        self.specs, self.arrays = specs, arrays
        self.seconds = time.perf_counter() - t0


_rect_flat = None  # does this Blender's rect.foreach_get want a flat buffer? (5.0: yes, 3.4: no)


def _rect_get(rect, dst, channels):
    """One memcpy of a pass into dst, in whichever shape this Blender accepts.

    A one-channel pass accepts both shapes everywhere, so only a multi-channel
    pass may teach which one this Blender wants."""
    global _rect_flat
    if channels == 1:
        rect.foreach_get(dst.reshape(-1))
        return
    if _rect_flat is None:
        try:
            rect.foreach_get(dst.reshape(-1))
            _rect_flat = True
            return
        except TypeError:
            _rect_flat = False
    rect.foreach_get(dst.reshape(-1) if _rect_flat else dst.reshape(-1, channels))


_armed = None  # the CyclesRequest of the render in progress; one render at a time per Blender


def _cycles_class():
    for cls in bpy.types.RenderEngine.__subclasses__():
        if getattr(cls, "bl_idname", None) == "CYCLES":
            return cls
    return None


def install_cycles_hook():
    """Wrap Cycles' render_frame_finish once; returns False if Cycles has none."""
    cls = _cycles_class()
    if cls is None or not hasattr(cls, "render_frame_finish"):
        return False
    if getattr(cls.render_frame_finish, "_blendarray", False):
        return True
    original = cls.render_frame_finish

    def render_frame_finish(self):
        original(self)
        req = _armed
        if req is not None and req.arrays is None and req.error is None:
            try:
                req.collect(self)
            except BaseException as e:  # an exception here would be swallowed by Blender
                req.error = e

    render_frame_finish._blendarray = True
    cls.render_frame_finish = render_frame_finish
    return True


def arm(request):
    global _armed
    _armed = request


# ----------------------------------------------------------------------------
# Saving 'Render Result' into a memfd
# ----------------------------------------------------------------------------

class _Memfd:
    """One memfd per process, reused for every save (RAM only, no disk file)."""
    fd = None

    @classmethod
    def get(cls):
        # No ftruncate here: Blender's writers open the path with O_TRUNC themselves.
        if cls.fd is None:
            cls.fd = os.memfd_create("blendarray-save", os.MFD_CLOEXEC)
        return cls.fd


def _save_render(scene, settings):
    """Save 'Render Result' with image settings `settings` (restored afterwards)
    into the process memfd; returns the fd."""
    img = bpy.data.images.get("Render Result")
    if img is None:
        raise RenderError("there is no finished render to capture: render first "
                          "(bpy.ops.render.render()) or call blendarray.blender.render()")
    s = scene.render.image_settings
    order = ["media_type", "file_format", "color_mode", "color_depth", "exr_codec", "compression",
             "use_exr_interleave"]
    old = [(k, getattr(s, k)) for k in order if hasattr(s, k)]
    fd = _Memfd.get()
    try:
        for k in order:
            if k in settings and hasattr(s, k):
                setattr(s, k, settings[k])
        img.save_render(filepath=f"/proc/self/fd/{fd}", scene=scene)
    except RuntimeError as e:
        raise RenderError(f"Blender could not save the render result: {e}") from None
    finally:
        for k, v in old:
            try:
                setattr(s, k, v)
            except (TypeError, ValueError):  # an old value not valid for the restored format
                pass
    return fd


def _exr_settings():
    # Blender 5.0 made multilayer a media type (the format keeps its name) and writes
    # one EXR part per pass unless asked for the classic single-part layout.
    return {"media_type": "MULTI_LAYER_IMAGE", "file_format": "OPEN_EXR_MULTILAYER",
            "exr_codec": "NONE", "color_depth": "32", "use_exr_interleave": True}


def capture_exr(scene, wanted, layer_names, aovs, alloc):
    """The EXR route: every pass of 'Render Result', through a memfd."""
    fd = _save_render(scene, _exr_settings())
    with _lib.Exr(fd) as exr:
        groups = {}
        for ch in exr.channels:
            parts = ch.split(".")
            if len(parts) < 3:
                continue  # not a layer.pass.channel name
            layer, bname, c = ".".join(parts[:-2]), parts[-2], parts[-1]
            if layer not in layer_names:
                continue  # e.g. the Composite result
            groups.setdefault((layer, bname), []).append(c)
        available = [(layer, bname, "".join(P.channel_order(cs)))
                     for (layer, bname), cs in groups.items()]
        selected = select(available, wanted, layer_names, aovs)
        specs = _make_specs(selected, exr.height, exr.width)
        arrays = alloc(specs)
        requests, to_int = [], []
        for s in specs:  # one walk over the file decodes every pass
            names = [f"{s.layer}.{s.blender_name}.{c}" for c in s.channel_id]
            dst = arrays[s.name]
            if dst.dtype != np.float32:  # index passes: float in the file, int32 for the user
                scratch = np.empty(dst.shape, np.float32)
                to_int.append((dst, scratch))
                dst = scratch
            requests.append((names, dst))
        if requests:
            exr.read_many(requests)
        for dst, scratch in to_int:
            _lib.f32_to_i32(dst, scratch)
    return specs, arrays


def output_size(scene):
    """(width, height) in pixels, as Blender computes it (integer percentage)."""
    r = scene.render
    return r.resolution_x * r.resolution_percentage // 100, r.resolution_y * r.resolution_percentage // 100


def capture_display(scene, alloc):
    """Blender's colour-managed 8-bit RGBA image, as its PNG output holds it."""
    fd = _save_render(scene, {"media_type": "IMAGE", "file_format": "PNG", "color_mode": "RGBA",
                              "color_depth": "8", "compression": 0})
    w, h = output_size(scene)
    spec = PassSpec("display", None, None, "RGBA", h, w, "uint8")
    arrays = alloc([spec])
    _lib.png_decode_rgba8_fd(fd, arrays["display"])
    return spec, arrays["display"]


def check_blender_error(req):
    if req is not None and req.error is not None:
        e = req.error
        if isinstance(e, BlendArrayError):
            raise e
        raise BlendArrayError(f"capturing the Cycles passes failed: {type(e).__name__}: {e}") from e
