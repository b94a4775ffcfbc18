"""Exception types. Pure Python: imported both by the consumer and inside Blender."""


class BlendArrayError(Exception):
    """Base class of every error blendarray raises."""


class SceneError(BlendArrayError):
    """The scene cannot be rendered as asked: missing/invalid .blend, no camera, bad resolution."""


class SceneNotFoundError(SceneError, FileNotFoundError):
    """The .blend file does not exist."""


class PassError(BlendArrayError, KeyError):
    """An unknown pass, or one the engine cannot produce. `available` lists the valid names."""

    def __init__(self, message, available=()):
        super().__init__(message)
        self.available = tuple(available)

    def __str__(self):  # KeyError would repr() the message
        return self.args[0]


class BlenderNotFoundError(BlendArrayError):
    """No Blender to run: neither a `blender` binary nor an importable `bpy` module."""


class WorkerError(BlendArrayError):
    """The Blender worker failed: crashed, was killed, or broke the protocol.

    `output` holds Blender's last output lines; `returncode` the exit status when known.
    """

    def __init__(self, message, output="", returncode=None):
        super().__init__(message)
        self.output = output
        self.returncode = returncode


class SetupError(BlendArrayError):
    """The per-frame setup hook could not be loaded, or raised (its traceback is in the message)."""


class BlendArrayWarning(UserWarning):
    """Something was rendered other than asked, and said so (also in frame.meta["warnings"])."""


def did_you_mean(name, valid):
    """' (did you mean 'depth'?)' for a misspelt name, else ''."""
    import difflib
    close = difflib.get_close_matches(str(name), [str(v) for v in valid], n=2, cutoff=0.6)
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


class RenderError(BlendArrayError):
    """Blender itself reported an error while rendering (the message is Blender's)."""


# Errors that cross the worker socket by name; anything else arrives as RenderError.
BY_NAME = {cls.__name__: cls for cls in
           (BlendArrayError, SceneError, SceneNotFoundError, PassError, RenderError, SetupError,
            WorkerError)}


def from_json(text, code=0, what=""):
    """The exception for an error of libblendarray's renderer (ba_renderer_error_json):
    the class its "type" names (an unexpected one of the worker's is a RenderError),
    with the pass names a PassError offers, or the output and exit status of a
    WorkerError's Blender."""
    import json
    err = json.loads(text or "{}")
    cls = BY_NAME.get(err.get("type"), RenderError)
    if err.get("type") == "BlenderNotFoundError":
        cls = BlenderNotFoundError
    msg = err.get("message") or what or "unknown error"
    if cls is PassError:
        return cls(msg, err.get("available", ()))
    if cls is WorkerError:
        return cls(msg, err.get("output", ""), err.get("returncode"))
    return cls(msg)


def missing_extra(module, needs, pip_args, extra, e):
    """The ImportError of blendarray.<module> when its optional extra is not
    installed: what is missing, why, and the two ways to install it."""
    return ImportError(f"blendarray.{module} needs {needs}, which cannot be imported ({e}); "
                       f"install it: pip install {pip_args}, or reinstall blendarray with the "
                       f"extra: pip install \"/path/to/blendarray[{extra}]\" (a checkout)")
