"""blendarray.render(): one render, from any Python, by a Blender worker."""
import os

from ._errors import PassError, SceneError, SceneNotFoundError
from ._worker import Worker

MAX_SIDE = 65536          # Blender's own limit
MAX_PIXELS = 1 << 28      # 268 Mpx: 4 GiB for one RGBA float32 pass
_BLEND_MAGIC = (b"BLENDER", b"\x1f\x8b", b"\x28\xb5\x2f\xfd")  # plain, gzip, zstd


def check_scene(path):
    """An absolute path to a readable .blend file, or a SceneError saying what is wrong."""
    path = os.path.abspath(os.fspath(path))
    if not os.path.exists(path):
        raise SceneNotFoundError(f"scene file {path} does not exist")
    if os.path.isdir(path):
        raise SceneError(f"scene {path} is a directory, not a .blend file")
    try:
        with open(path, "rb") as f:
            head = f.read(12)
    except OSError as e:
        raise SceneError(f"cannot read scene file {path}: {e.strerror}") from None
    if not head.startswith(_BLEND_MAGIC):
        raise SceneError(f"{path} is not a .blend file (it starts with {head[:8]!r}; a .blend "
                         "starts with 'BLENDER', or is gzip/zstd-compressed)")
    return path


def check_resolution(resolution):
    if resolution is None:
        return None
    try:
        w, h = resolution
        w, h = int(w), int(h)
        if (w, h) != tuple(resolution):
            raise ValueError
    except (TypeError, ValueError):
        raise SceneError(f"resolution must be a pair of integers (width, height), "
                         f"got {resolution!r}") from None
    if not (1 <= w <= MAX_SIDE and 1 <= h <= MAX_SIDE):
        raise SceneError(f"resolution {w}x{h} is out of range: each side must be 1..{MAX_SIDE}")
    if w * h > MAX_PIXELS:
        raise SceneError(f"resolution {w}x{h} has {w * h} pixels, more than {MAX_PIXELS} "
                         f"(one RGBA float32 pass would take {w * h * 16 >> 30} GiB)")
    return [w, h]


def _check_passes(passes):
    if passes is None:
        return None
    if isinstance(passes, str):
        passes = [p.strip() for p in passes.split(",") if p.strip()]
    passes = list(passes)
    for p in passes:
        if not isinstance(p, str) or not p:
            raise PassError(f"pass names are non-empty strings, got {p!r}")
    return passes


def render(scene=None, frame=None, passes=None, engine=None, samples=None, resolution=None,
           display=False, denoise=None, threads=None, blender=None, timeout=None, verbose=False):
    """Render one frame in a fresh Blender worker and return its passes as a Frame.

    scene: path to a .blend file; None renders blendarray's built-in demo scene.
    frame: the frame number (default: the scene's current frame).
    passes: e.g. ["rgba", "depth", "object_index"]; None: every pass the scene renders.
    engine: "CYCLES", "EEVEE" or "WORKBENCH" (default: the scene's). samples,
      resolution=(width, height), denoise, threads: override the scene's settings.
    display: also return "display", Blender's colour-managed image, uint8 (H, W, 4).
    blender: "bpy", "blender" or a path to a Blender binary (default:
      $BLENDARRAY_BLENDER, else the first found).
    timeout: seconds to wait for the render before stopping Blender.

    The arrays live in shared memory that belongs to this process alone; no
    file is written and no Blender process is left running.
    """
    params = {
        "scene": check_scene(scene) if scene is not None else None,
        "frame": None if frame is None else int(frame),
        "passes": _check_passes(passes),
        "engine": engine,
        "samples": samples,
        "resolution": check_resolution(resolution),
        "display": bool(display),
        "denoise": denoise,
        "threads": threads,
    }
    with Worker(blender, verbose=verbose) as w:
        return w.render(timeout=timeout, **params)
