"""blendarray: Blender renders, straight into NumPy arrays.

    import blendarray as ba
    frame = ba.render("scene.blend", frame=1, passes=["rgba", "depth"], resolution=(640, 480))
    frame["depth"]          # (480, 640) float32, row 0 the top
    frame.meta["K"]         # camera intrinsics

Inside Blender, use blendarray.blender (render/capture the current scene).
This module imports no compiled extension, so it also loads in Blender's Python;
the consumer's modules (render, Renderer, read_stream) load on first use, so a
Blender worker, which imports blendarray.blender, never loads them.
"""
from ._errors import (BlendArrayError, BlendArrayWarning, BlenderNotFoundError, PassError,
                      RenderError, SceneError, SceneNotFoundError, SetupError, WorkerError)
from ._frame import Frame

_LAZY = {"render": "._render", "Renderer": "._renderer", "read_stream": "._stream"}


def __getattr__(name):  # PEP 562: the consumer side, imported when first asked for
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(_LAZY[name], __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'blendarray' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))

__version__ = "0.1.0"
__all__ = ["render", "Renderer", "read_stream", "save_npy", "Frame", "BlendArrayError", "BlendArrayWarning", "BlenderNotFoundError",
           "PassError", "RenderError", "SceneError", "SceneNotFoundError", "SetupError",
           "WorkerError"]


def save_npy(path, array, overwrite=False):
    """Write `array` to `path` as .npy, atomically (libblendarray's writer).

    The C extension is imported here, not at the top: blendarray must also
    import inside Blender's Python, which may not match the extension's.
    """
    from ._core import save_npy as _save
    import numpy as np
    _save(path, np.asarray(array, order="C"), overwrite)  # ascontiguousarray would make 0-d 1-d
