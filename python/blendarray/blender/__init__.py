"""blendarray inside Blender: the passes of a render as NumPy arrays.

    import blendarray.blender as bab
    frame = bab.render(passes=["rgba", "depth", "normal", "object_index"])
    frame["depth"]      # (H, W) float32, row 0 the top
    frame.meta          # frame, resolution, engine, samples, K, world_to_camera, ...

    bpy.ops.render.render(); frame = bab.capture()   # a render that just finished

Runs in any Blender (the `blender` binary or the `bpy` module) and any
Python it embeds: the C library is reached through ctypes.
"""
import sys
import time

import bpy

from .._errors import BlendArrayError, PassError, RenderError, SceneError, did_you_mean

OLDEST_SUPPORTED = (3, 4, 0)
TESTED_VERSIONS = ("3.4", "4.2 LTS", "4.5 LTS", "5.0", "5.2 LTS")


class UnsupportedBlenderError(BlendArrayError):
    """This Blender is older than the oldest one blendarray supports."""


def check_blender_version(version):
    """Raise UnsupportedBlenderError, naming the supported versions, unless
    `version` (bpy.app.version, e.g. (4, 2, 3)) is a supported Blender.
    Pure: called below, before anything a too-old Blender would trip on, so the
    worker and the add-on (both import this package) stop with one clear sentence."""
    supported = (f"Blender {'.'.join(map(str, OLDEST_SUPPORTED))} or newer "
                 f"(tested: {', '.join(TESTED_VERSIONS)})")
    try:
        v = tuple(int(x) for x in tuple(version)[:3])
    except (TypeError, ValueError):
        v = ()
    if not v:
        raise UnsupportedBlenderError(f"cannot tell which Blender this is (version {version!r}); "
                                      f"blendarray needs {supported}")
    v = (v + (0, 0))[:3]
    if v < OLDEST_SUPPORTED:
        raise UnsupportedBlenderError(f"this is Blender {'.'.join(map(str, v))}, but blendarray "
                                      f"needs {supported}")
    return v


check_blender_version(bpy.app.version)

from .. import _lib
from .._frame import Frame
from .._settings import ENGINE_IDS, check_resolution, engine_ids, frame_params
from . import routes as _cap
from . import display as _display
from . import labels as _labels
from . import passes as _passes
from .meta import frame_meta

__all__ = ["render", "capture", "configure", "Frame"]

_WORKBENCH_AA = {1: "OFF", 5: "5", 8: "8", 11: "11", 16: "16", 32: "32"}


def _rendering_layers(scene):
    if scene.render.use_single_layer:
        return [bpy.context.view_layer.name]
    return [vl.name for vl in scene.view_layers if vl.use]


def _set_engine(scene, engine):
    for ident in engine_ids(engine):  # the first this Blender has
        try:
            scene.render.engine = ident
            return
        except TypeError:
            continue
    raise SceneError(f"this Blender has no {engine} engine")


def configure(scene=None, engine=None, samples=None, resolution=None, frame=None,
              denoise=None, threads=None):
    """Apply render settings to `scene` (default: the context scene). None keeps a setting.

    The settings are checked as blendarray.Settings checks them (the same errors and
    messages), before any is applied."""
    scene = scene or bpy.context.scene
    s = frame_params(dict(engine=engine, samples=samples, resolution=resolution,
                          denoise=denoise, threads=threads))
    engine, samples, resolution, denoise, threads = (
        s["engine"], s["samples"], s["resolution"], s["denoise"], s["threads"])
    if engine is not None:
        _set_engine(scene, engine)
    if resolution is not None:
        scene.render.resolution_x, scene.render.resolution_y = resolution
        scene.render.resolution_percentage = 100
    if samples is not None:
        e = scene.render.engine
        if e == "CYCLES":
            scene.cycles.samples = samples
        elif e in ENGINE_IDS["EEVEE"]:
            scene.eevee.taa_render_samples = samples
        elif e == "BLENDER_WORKBENCH":
            if samples not in _WORKBENCH_AA:
                raise SceneError(f"Workbench renders 1, 5, 8, 11, 16 or 32 samples, not {samples}")
            scene.display.render_aa = _WORKBENCH_AA[samples]
    if denoise is not None and scene.render.engine == "CYCLES":
        why = _no_denoiser(scene) if denoise else None
        if why:  # asked for by whichever entry point: each one's words
            raise SceneError(f"Cycles denoising was asked for, but {why}: render without it "
                             f"({_fix_words({'denoise': False})}), or with a Blender that has "
                             "OpenImageDenoise (e.g. the bpy module: pip install bpy)")
        scene.cycles.use_denoising = bool(denoise)
    if threads is not None:
        scene.render.threads_mode = "FIXED"
        scene.render.threads = threads
    if frame is not None:
        scene.frame_set(int(frame))
    return scene


def _fix_words(fix):
    """The settings of `fix` ({"denoise": False}) as each entry point spells them,
    for an error, which cannot know which entry point asked."""
    py = ", ".join(f"{k}={v!r}" for k, v in fix.items())
    cli = " ".join(f"--{k.replace('_', '-')} " + ({True: "on", False: "off"}.get(v, str(v))
                                                  if isinstance(v, bool) else str(v))
                   for k, v in fix.items())
    return f"{py} in Python, {cli} on the command line"


def _no_denoiser(scene):
    """Why this Blender cannot denoise with the scene's Cycles denoiser, or None.

    Debian's Blender is built without OpenImageDenoise: there the denoiser enum
    has no items at all, and scene.cycles.denoiser reads '' (with a warning), not
    'OPENIMAGEDENOISE'. Rendering anyway would fail (or crash) inside Blender."""
    try:
        import _cycles
    except ImportError:
        return None
    denoiser = scene.cycles.denoiser
    if denoiser == "":
        return "this Blender offers no Cycles denoiser (it is built without OpenImageDenoise)"
    if denoiser == "OPENIMAGEDENOISE" and not getattr(_cycles, "with_openimagedenoise", True):
        return "this Blender is built without OpenImageDenoise"
    return None


def _check_renderable(scene, undo, warnings):
    """Refuse what cannot render; adapt what can (noted in `warnings` as (message, the
    settings that silence it or None), undone via `undo`)."""
    if scene.camera is None:
        raise SceneError(f"scene {scene.name!r} has no camera: add one and set it as the "
                         "scene camera (scene.camera = obj)")
    if scene.render.use_multiview:
        raise SceneError("stereo/multi-view rendering is not supported: turn off "
                         "scene.render.use_multiview")
    w, h = _cap.output_size(scene)
    r = scene.render
    try:
        check_resolution((w, h))
    except SceneError as e:
        raise SceneError(f"the scene renders {w}x{h} pixels ({r.resolution_x}x{r.resolution_y} at "
                         f"{r.resolution_percentage}%): {e}") from None
    if scene.render.engine == "CYCLES" and scene.cycles.use_denoising:
        why = _no_denoiser(scene)
        if why:
            # The scene's own setting (Blender's default scene has it on), not a request:
            # render without denoising, and say so rather than fail every default scene.
            undo.append((scene.cycles, "use_denoising", True))
            scene.cycles.use_denoising = False
            # The fix travels as a setting (meta["warning_fixes"]): each entry point says
            # it in its own words (denoise=False, --denoise off, the add-on's checkbox).
            msg = (f"Cycles denoising is on in scene {scene.name!r}, but {why}: rendered "
                   "without denoising")
            warnings.append((msg, {"denoise": False}))
            print(f"blendarray: warning: {msg} (scene.cycles.use_denoising = False silences it)",
                  file=sys.stderr)


def _enable_passes(scene, wanted, layer_names):
    """Turn on the passes asked for; returns (undo list, per-layer AOV names)."""
    undo = []
    aovs = {ln: {a.name for a in getattr(scene.view_layers[ln], "aovs", ())} for ln in layer_names}
    if wanted is None:
        return undo, aovs
    multi = len(layer_names) > 1
    try:
        for name in wanted:
            if not isinstance(name, str):
                raise PassError(f"pass names are strings, got {name!r}")
            layer, base = _passes.split_layer(name, layer_names) if multi else (None, name)
            for ln in ([layer] if layer else layer_names):
                got = _passes.enable(scene.view_layers[ln], base)
                if got is None:
                    valid = _passes.requestable_names(scene.view_layers[ln])
                    raise PassError(f"unknown pass {name!r}{did_you_mean(base, valid)}; passes are: "
                                    f"{', '.join(valid)}", valid)
                undo += got
    except BaseException:
        _restore(undo)
        raise
    return undo, aovs


def _restore(undo):
    for obj, attr, old in reversed(undo):
        setattr(obj, attr, old)


def _wanted_list(passes):
    if passes is None:
        return None
    if isinstance(passes, str):
        return [p.strip() for p in passes.split(",") if p.strip()]
    return list(passes)


def depth_background_mask(depth, clip_end):
    """Which depth pixels saw no geometry. Each engine marks them its own way:
    1e10 (Cycles, Workbench), 65504 (EEVEE before 4.2: the largest half float),
    just under clip_end (EEVEE Next, e.g. 99.998 for 100). Nothing past
    clip_end is rendered, so a depth within 0.01% of clip_end or beyond is
    background on every engine."""
    import numpy as np
    return np.greater_equal(depth, min(clip_end * (1 - 1e-4), 65504.0))


def _set_depth_background(scene, specs, out, value):
    import numpy as np
    clip_end = scene.camera.data.clip_end
    for s in specs:
        if s.blender_name in ("Depth", "Z") and s.name.rpartition("/")[2] == "depth":
            d = out[s.name]
            np.copyto(d, np.float32(value), where=depth_background_mask(d, clip_end))


def _label_passes(scene, wanted, annotations):
    """The pass list to render for the labels asked for: flows come from the
    vector pass, annotations from the Cryptomatte object pass (both then also
    captured); returns (wanted, flows asked, extra passes to enable)."""
    flows = [] if wanted is None else [w for w in wanted if w.rpartition("/")[2] in _labels.FLOWS]
    need = []
    if flows:
        _labels.check_flow(scene)
        wanted = [w for w in wanted if w not in flows]
        need += sorted({f.rpartition("/")[0] + ("/" if "/" in f else "") + "vector" for f in flows})
    if annotations:
        _labels.check_engine(scene)
        need.append(_labels.INSTANCE_PASS)
    if wanted is not None:
        wanted = wanted + [n for n in need if n not in wanted]
    return wanted, flows, need


def _add_flows(out, flows, alloc):
    """Compute the flow passes asked for from the captured vector passes (C)."""
    vectors = [out[f[:len(f) - len(f.rpartition("/")[2])] + "vector"] for f in flows]
    made = [_cap.PassSpec(f, None, "Vector", "XY", v.shape[0], v.shape[1], "float32")
            for f, v in zip(flows, vectors)]
    arrays = alloc(made)
    for s, v in zip(made, vectors):
        fwd = s.name.endswith("flow_forward")
        _lib.flow_from_vector(v, arrays[s.name] if fwd else None, None if fwd else arrays[s.name])
        out[s.name] = arrays[s.name]
    return made


def render(passes=None, display=False, scene=None, alloc=None, keep_settings=False,
           depth_background=None, annotations=False):
    """Render `scene` (default: the context scene) and return its passes as a Frame.

    passes: names such as ["rgba", "depth", "normal", "object_index"] (each is
      enabled for this render), or None for every pass the view layers render.
    display: also return "display", the colour-managed uint8 (H, W, 4) image,
      the bytes Blender's own PNG would hold. True: blendarray applies Blender's
      colour management (its OpenColorIO, its config) to the rgba pass where
      that is exact, else Blender makes it; "blender": always Blender's own
      route. meta["display_route"] says which made it ("ocio" or "blender").
    depth_background: None keeps the engine's own value where depth saw no
      geometry (1e10, 65504 or ~clip_end: see depth_background_mask); a number
      (float("inf"), float("nan"), 0.0, ...) replaces it, the same on every engine.
    annotations: also the labels, in meta["annotations"] (docs/labels.md): the
      visible objects' ids, names, categories, areas, boxes, COCO masks, poses
      and projected 3D boxes; captures the cryptomatte_object_00 pass too.
      Passes "flow_forward"/"flow_backward": optical flow in pixels, x right,
      y down, from the vector pass (captured too).
    Render settings touched to enable passes are restored unless keep_settings.
    A Cycles scene that asks for denoising in a Blender without a denoiser renders
    without it; frame.meta["warnings"] says so, and meta["warning_fixes"] (one per
    warning) the settings that silence it ({"denoise": False}) or None.
    """
    scene = scene or bpy.context.scene
    wanted = _wanted_list(passes)
    fixes, warnings = [], []
    _check_renderable(scene, fixes, warnings)
    layers = _rendering_layers(scene)
    wanted, flows, need = _label_passes(scene, wanted, annotations)
    wanted, private = _display_source(wanted, display, layers)
    try:
        undo, aovs = _enable_passes(scene, wanted if wanted is not None else
                                    (need or None), layers)
    except BaseException:
        _restore(fixes)
        raise
    alloc = _private_alloc(alloc or _cap.numpy_alloc, private)
    req = None
    try:
        if scene.render.engine == "CYCLES" and _cap.install_cycles_hook():
            req = _cap.CyclesRequest(wanted, layers, aovs, alloc)
            _cap.arm(req)
        t0 = time.perf_counter()
        try:
            if bpy.context.scene == scene:
                bpy.ops.render.render(write_still=False)
            else:
                with bpy.context.temp_override(scene=scene):
                    bpy.ops.render.render(write_still=False)
        except RuntimeError as e:
            raise RenderError(f"Blender failed to render: {str(e).strip()}") from None
        finally:
            _cap.arm(None)
        t1 = time.perf_counter()
        _cap.check_blender_error(req)
        if req is not None and req.arrays is not None:
            specs, arrays, route = req.specs, req.arrays, "cycles"
            capture_s = req.seconds  # spent inside render_frame_finish
        else:
            specs, arrays = _cap.capture_exr(scene, wanted, layers, aovs, alloc)
            route = "exr"
            capture_s = time.perf_counter() - t1
        out = {s.name: arrays[s.name] for s in specs}
        if depth_background is not None:
            _set_depth_background(scene, specs, out, float(depth_background))
        specs, derived = _derive(scene, layers, specs, out, alloc, display, flows, annotations,
                                 private)
    finally:
        if not keep_settings:
            _restore(undo)
        _restore(fixes)  # always: the next render warns again, so every frame's meta says it
    meta = frame_meta(scene, layers)
    meta.update(route=route, render_seconds=t1 - t0 - (capture_s if route == "cycles" else 0),
                capture_seconds=capture_s, passes={s.name: s.describe() for s in specs},
                warnings=[w for w, _ in warnings], warning_fixes=[f for _, f in warnings],
                **derived)
    return Frame(out, meta)


def _display_source(wanted, display, layers):
    """(the passes to capture, those of them captured only to make the display
    image from): rgba, when the display image is blendarray's to make
    (display=True, one view layer) and rgba was not asked for. Captured into
    private memory, not returned: making the image from it beats Blender's
    route by far (a 64x64 frame: 1.2 ms)."""
    if display is True and wanted is not None and "rgba" not in wanted and len(layers) == 1:
        return wanted + ["rgba"], ["rgba"]
    return wanted, []


def _private_alloc(alloc, private):
    """alloc, with the passes named in `private` in memory of their own (NumPy)."""
    if not private:
        return alloc

    def split(specs):
        mine = [s for s in specs if s.name in private]
        rest = [s for s in specs if s.name not in private]
        out = alloc(rest) if rest or not mine else {}
        if mine:
            out = dict(out, **_cap.numpy_alloc(mine))
        return out
    return split


def _derive(scene, layers, specs, out, alloc, display, flows, annotations, private=()):
    """What is made from the captured passes, the same after render() and
    capture(): the display image, the flows, the annotations. Returns the specs
    with the flows added (the private passes, which made the display image,
    taken out), and the metadata to add."""
    meta = {}
    t0 = time.perf_counter()
    if display:
        meta["display_route"], why = _make_display(scene, layers, out, display, alloc)
        if why:
            meta["display_fallback"] = why
    for name in private:
        out.pop(name, None)
    specs = [s for s in specs if s.name not in private]
    meta["display_seconds"] = time.perf_counter() - t0
    t1 = time.perf_counter()
    if flows:
        specs = specs + _add_flows(out, flows, alloc)
    labels = None
    if annotations:
        key = _labels.INSTANCE_PASS if len(layers) == 1 else f"{layers[0]}/{_labels.INSTANCE_PASS}"
        w, h = _cap.output_size(scene)
        labels = _labels.annotate(scene, out[key], w, h)
    kinds = sorted({k for s in specs for k, (prefix, _) in _passes.CRYPTO.items()
                    if (s.blender_name or "").startswith(prefix)})
    if kinds:
        meta["cryptomatte"] = _labels.manifests(scene, kinds)
    if labels is not None:
        meta["annotations"] = labels
        meta["annotation_seconds"] = time.perf_counter() - t1
    return specs, meta


def _make_display(scene, layers, out, display, alloc):
    """out["display"]; returns (route, why Blender's route was taken or None)."""
    if display == "blender":
        why = "asked for (display='blender')"
    elif len(layers) > 1:  # before the rgba check: their passes are "Layer/rgba"
        why = _display.several_layers(layers)
    elif "rgba" not in out:
        why = "the rgba pass, which it is made from, was not asked for"
    else:
        the_plan, why = _display.plan(scene, layers)
        if the_plan is not None:
            rgba = out["rgba"]
            h, w = rgba.shape[:2]
            arr = alloc([_cap.PassSpec("display", None, None, "RGBA", h, w, "uint8")])["display"]
            out["display"] = _display.make(the_plan, rgba, arr, scene)
            return "ocio", None
    _, out["display"] = _cap.capture_display(scene, alloc)
    return "blender", why


def capture(passes=None, display=False, scene=None, alloc=None, annotations=False):
    """The passes of the render that just finished ('Render Result'), as a Frame.

    Only passes that render produced can be captured (enable them before
    rendering). display, annotations and the flow passes as in render(), made
    from what the render produced: annotations need its Cryptomatte object
    pass (view layer: use_pass_cryptomatte_object), flows its Vector pass.
    """
    scene = scene or bpy.context.scene
    wanted = _wanted_list(passes)
    layers = _rendering_layers(scene)
    wanted, flows, need = _label_passes(scene, wanted, annotations)
    wanted, private = _display_source(wanted, display, layers)
    aovs = {ln: {a.name for a in getattr(scene.view_layers[ln], "aovs", ())} for ln in layers}
    alloc = _private_alloc(alloc or _cap.numpy_alloc, private)
    t0 = time.perf_counter()
    try:
        specs, arrays = _cap.capture_exr(scene, wanted, layers, aovs, alloc)
        out = {s.name: arrays[s.name] for s in specs}
        missing = [n for n in need if (n if len(layers) == 1 or "/" in n
                                       else f"{layers[0]}/{n}") not in out]
        if missing:
            raise PassError(f"the render that finished has no {missing[0]} pass")
    except PassError as e:
        if not any(n.rpartition("/")[2] in str(e) for n in need):
            raise  # another pass's error
        raise PassError(f"{e}; {'annotations' if annotations else 'flow'} come from the "
                        f"passes {', '.join(need)}: enable them (view layer: "
                        "use_pass_cryptomatte_object, use_pass_vector) before rendering, or "
                        "use render(), which does", e.available) from None
    capture_s = time.perf_counter() - t0
    specs, derived = _derive(scene, layers, specs, out, alloc, display, flows, annotations,
                             private)
    meta = frame_meta(scene, layers)
    meta.update(route="exr", capture_seconds=capture_s,
                passes={s.name: s.describe() for s in specs}, **derived)
    return Frame(out, meta)
