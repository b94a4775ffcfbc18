"""Checks of user input made before any Blender is started: fast, clear errors."""
import os

from ._errors import BlendArrayError, PassError, SceneError, SceneNotFoundError

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


def check_display(display):
    """display=: False, True (Blender's colour management, applied by blendarray where
    exact) or "blender" (Blender's own route, always)."""
    if display is None or isinstance(display, (bool, int)) and display in (0, 1):
        return bool(display)
    if display == "blender":
        return display
    raise BlendArrayError(f"display must be True, False or 'blender', not {display!r}")


def check_passes(passes):
    if passes is None:
        return None
    if isinstance(passes, str):
        passes = [p.strip() for p in passes.split(",") if p.strip()]
    passes = list(passes)
    for p in passes:
        if not isinstance(p, str) or not p:
            raise PassError(f"pass names are non-empty strings, got {p!r}")
    return passes


def check_frames(frames):
    """What a dataset renders: an int N (N renders of the scene as it is,
    indices 0..N-1) stays an int; frame numbers and per-frame param dicts
    become a list of param dicts ({"frame": n} for a number)."""
    import numpy as np
    if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool):
        if frames < 0:
            raise ValueError(f"frames={frames}: give a count >= 0, frame numbers or param dicts")
        return int(frames)
    if isinstance(frames, (str, bytes, os.PathLike, dict)) or not hasattr(frames, "__iter__"):
        raise ValueError(f"frames must be a count, frame numbers or per-frame param dicts, not "
                         f"{frames!r}")
    table = []
    for p in frames:
        if isinstance(p, (int, np.integer)) and not isinstance(p, bool):
            table.append({"frame": int(p)})
        elif isinstance(p, dict):
            table.append(dict(p))
        else:
            raise ValueError(f"frames holds {p!r}: each entry is a frame number or a dict of "
                             f"per-frame params")
    return table


def check_int(name, value, minimum):
    """value as an int >= minimum, or a ValueError naming the argument."""
    import numpy as np
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, not {value!r}")
    return int(value)
