"""Checks of user input made before any Blender is started: fast, clear errors.
The render settings' checks are the Settings' (_settings.py)."""
import os

from ._errors import SceneError, SceneNotFoundError
from ._settings import frame_params

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


def check_frames(frames):
    """What a dataset renders: an int N (N renders of the scene as it is,
    indices 0..N-1) stays an int; frame numbers and per-frame param dicts
    become a list of param dicts ({"frame": n} for a number), their render
    settings checked as the Settings' fields are."""
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
            table.append(frame_params(dict(p)))  # its settings checked now, not in a worker
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
