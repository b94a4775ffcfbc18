"""blendarray.Settings: the render settings, defined once (names, defaults, checks, docs).

Every entry point takes them the same way, through takes_settings below:
render(), Renderer, blendarray.torch.RenderDataset and blendarray.ray.read_renders
accept each setting as a keyword (passes=["rgba"], resolution=(64, 48), ...)
and/or one object, settings=Settings(...); keywords given beside the object
replace its fields. Their signatures list every setting (built here from the
fields, for help() and IDEs), their docstrings point here, and a misspelt
keyword is a TypeError that names the close ones.

Settings.to_json() is the "settings" object of the worker's init message
(docs/protocol.md), written here only. The worker reads it back with
Settings.from_json(): a client that is not Python (the blendarray command, a C
program) gets the same checks, messages and exception types (SceneError,
PassError, BlendArrayError travel by name in the worker's error reply).
A frame's own settings (Renderer.frames' dicts) pass the same field checks
(frame_params).

Pure Python without NumPy: this loads in any Python a Blender embeds (3.10+).
"""
import dataclasses
import json
import operator
from dataclasses import dataclass, field, fields

from ._errors import BlendArrayError, PassError, SceneError, did_you_mean

MAX_SIDE = 65536          # Blender's own limit
MAX_PIXELS = 1 << 28      # 268 Mpx: 4 GiB for one RGBA float32 pass
MAX_THREADS = 1024        # Blender's (BLENDER_MAX_THREADS)
# The engines: each name, and Blender's identifiers for it that the worker tries in
# turn (EEVEE is BLENDER_EEVEE_NEXT in 4.2-4.5, BLENDER_EEVEE before and since 5.0).
# Blender's own identifiers are taken as names too.
ENGINE_IDS = {"CYCLES": ("CYCLES",), "EEVEE": ("BLENDER_EEVEE_NEXT", "BLENDER_EEVEE"),
              "WORKBENCH": ("BLENDER_WORKBENCH",)}
ENGINES = tuple(ENGINE_IDS)
_ENGINE_OF = {i: name for name, ids in ENGINE_IDS.items() for i in (name,) + ids}


# -- the checks of each field: a value as given -> the value kept, or a clear error ----

def check_passes(passes):
    if passes is None:
        return None
    if isinstance(passes, str):
        passes = [p.strip() for p in passes.split(",") if p.strip()]
    try:
        passes = tuple(passes)
    except TypeError:
        raise PassError(f"passes must be a list of pass names (e.g. ['rgba', 'depth']) or None, "
                        f"not {passes!r}") from None
    for p in passes:
        if not isinstance(p, str) or not p:
            raise PassError(f"pass names are non-empty strings, got {p!r}")
    return passes


def check_engine(engine):
    """The engine's name as given, upper-cased (one of ENGINES, or a Blender
    identifier: engine_ids() gives what to set), or a SceneError naming the
    close ones."""
    if engine is None:
        return None
    name = engine.upper() if isinstance(engine, str) else str(engine)
    if name not in _ENGINE_OF:
        raise SceneError(f"unknown engine {engine!r}{did_you_mean(name, ENGINES)}; use "
                         f"{', '.join(ENGINES[:-1])} or {ENGINES[-1]}")
    return name


def engine_ids(engine):
    """Blender's identifiers for `engine` (checked as check_engine does), to try in turn."""
    return ENGINE_IDS[_ENGINE_OF[check_engine(engine)]]


def integer_in(value, low, high=None):
    """value as an int from low to high (None: no upper bound), or None when it is
    not one: int and NumPy's integers count; 8.5, "8" and True do not."""
    try:
        if isinstance(value, bool):
            raise TypeError
        n = operator.index(value)
    except TypeError:
        return None
    return n if n >= low and (high is None or n <= high) else None


def integer_words(low, high=None):
    """How an error says integer_in's bounds: ">= 1", "from 1 to 1024"."""
    return f">= {low}" if high is None else f"from {low} to {high}"


def _integer(name, value, low, high, what):
    if value is None:
        return None
    n = integer_in(value, low, high)
    if n is None:
        raise SceneError(f"{name} must be an integer {integer_words(low, high)} ({what}), "
                         f"got {value!r}")
    return n


def check_samples(samples):
    return _integer("samples", samples, 1, None, "render samples per pixel")


def check_threads(threads):
    return _integer("threads", threads, 1, MAX_THREADS, "render threads per worker")


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
                         f"(one RGBA float32 pass would take {w * h * 16 / (1 << 30):.2f} GiB)")
    return w, h


def _flag(name, value, none, error, choices=None):
    """A yes/no setting: bool, 0/1 or a NumPy bool; None -> `none`."""
    if value is None:
        return none
    if isinstance(value, int) or type(value).__name__ in ("bool_", "bool"):  # NumPy 1, 2
        if value in (0, 1):
            return bool(value)
    choices = choices or ("True, False or None" if none is None else "True or False")
    raise error(f"{name} must be {choices}, not {value!r}")


def check_display(display):
    if isinstance(display, str) and display == "blender":
        return display
    return _flag("display", display, False, BlendArrayError, "True, False or 'blender'")


def check_denoise(denoise):
    return _flag("denoise", denoise, None, SceneError)


def check_annotations(annotations):
    return _flag("annotations", annotations, False, BlendArrayError)


def check_depth_background(value):
    if value is None:
        return None
    try:
        return float(value)  # the JSON form is a string ("inf"): JSON has no inf/nan
    except (TypeError, ValueError):
        raise BlendArrayError(f"depth_background must be a number (e.g. float('inf')) or None, "
                              f"not {value!r}") from None


def _setting(check, doc, default=None):
    return field(default=default, metadata={"check": check, "doc": doc})


@dataclass(frozen=True)
class Settings:
    passes: object = _setting(check_passes, (
        "the passes to return, e.g. ['rgba', 'depth', 'object_index'] (or 'rgba,depth'); "
        "None: every pass the scene renders. Passes 'flow_forward'/'flow_backward' give "
        "optical flow in pixels (x right, y down)."))
    engine: object = _setting(check_engine, (
        "'CYCLES', 'EEVEE' or 'WORKBENCH' (any case); None: the scene's."))
    samples: object = _setting(check_samples, (
        "render samples per pixel, >= 1 (Workbench: 1, 5, 8, 11, 16 or 32); None: the scene's."))
    resolution: object = _setting(check_resolution, (
        f"(width, height) in pixels, each 1..{MAX_SIDE}, at most {MAX_PIXELS} pixels; "
        "None: the scene's (at its percentage)."))
    display: object = _setting(check_display, (
        "also return 'display', Blender's colour-managed image, uint8 (H, W, 4): True (made "
        "by blendarray with Blender's OpenColorIO where exact, else by Blender; "
        "meta['display_route'] says which) or 'blender' (always Blender)."), False)
    denoise: object = _setting(check_denoise, (
        "Cycles denoising on (True) or off (False); None: the scene's."))
    threads: object = _setting(check_threads, (
        f"render threads per Blender worker, 1..{MAX_THREADS}; None: Blender's default "
        "(one per core)."))
    depth_background: object = _setting(check_depth_background, (
        "what 'depth' holds where no geometry was seen: None keeps the engine's own marker "
        "(1e10 Cycles/Workbench, 65504 EEVEE before 4.2, ~clip_end EEVEE Next); "
        "float('inf'), float('nan') or any number replaces it."))
    annotations: object = _setting(check_annotations, (
        "also each frame's labels in frame.meta['annotations'] (docs/labels.md): visible "
        "objects with ids, names, categories, areas, boxes, COCO RLE masks, poses and "
        "projected 3D boxes (also captures cryptomatte_object_00). Cycles and EEVEE."), False)

    def __post_init__(self):
        for f in fields(self):
            object.__setattr__(self, f.name, f.metadata["check"](getattr(self, f.name)))

    @classmethod
    def of(cls, settings=None, **changes):
        """`settings` (a Settings, a dict of its fields, or None: the defaults) with
        `changes` (fields by name) applied over it."""
        if settings is None:
            return cls(**changes)
        if isinstance(settings, dict):
            return cls(**dict(settings, **changes))
        if not isinstance(settings, cls):
            raise TypeError(f"settings must be a blendarray.Settings (or a dict of its fields), "
                            f"not {settings!r}")
        return dataclasses.replace(settings, **changes) if changes else settings

    def to_json(self):
        """The "settings" object of the worker's init message (docs/protocol.md), as
        compact JSON text: tuples as lists, depth_background as a string."""
        d = {f.name: _jsonable(getattr(self, f.name)) for f in fields(self)}
        if self.depth_background is not None:
            d["depth_background"] = repr(self.depth_background)
        return json.dumps(d, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_json(cls, obj):
        """Settings from the init message's "settings" (JSON text or the parsed
        object), checked as Settings(...) checks keywords; a field left out
        keeps its default, a name that is not a field is a BlendArrayError."""
        if isinstance(obj, (str, bytes)):
            try:
                obj = json.loads(obj)
            except ValueError as e:
                raise BlendArrayError(f"settings are not valid JSON ({e})") from None
        if not isinstance(obj, dict):
            raise BlendArrayError(f"settings must be a JSON object of named settings, not {obj!r}")
        for name in obj:
            if name not in NAMES:
                raise BlendArrayError(f"unknown setting {name!r}{did_you_mean(name, NAMES)}; "
                                      f"the settings are {', '.join(NAMES)}")
        return cls(**obj)


NAMES = tuple(f.name for f in fields(Settings))
_CHECKS = {f.name: f.metadata["check"] for f in fields(Settings)}
PER_FRAME = ("engine", "samples", "resolution", "denoise", "threads")  # in src/reply.c PER_FRAME too


def _doc():
    import textwrap
    lines = ["The render settings, one object for every entry point (render, Renderer,",
             "RenderDataset, read_renders) and the worker; a None keeps the scene's own",
             "setting. Frozen: Settings.of(s, samples=8) is a changed copy; to_json()",
             "is what the worker receives (docs/protocol.md). A frame's own params",
             f"(Renderer.frames' dicts, the CLI's --params) may change {', '.join(PER_FRAME)}",
             "for that frame only.", ""]
    for f in fields(Settings):
        lines.append(textwrap.fill(f"{f.name}={f.default!r}: {f.metadata['doc']}", 88,
                                   subsequent_indent="    "))
    return "\n".join(lines)


Settings.__doc__ = _doc()


def _jsonable(value):
    return list(value) if isinstance(value, tuple) else value


def frame_params(params):
    """A frame's params dict with its render settings (PER_FRAME) checked and
    made JSON as the same fields of Settings are; None keeps the Renderer's."""
    for name in PER_FRAME:
        if params.get(name) is not None:
            params[name] = _jsonable(_CHECKS[name](params[name]))
    return params


_POINTER = ("Render settings: settings=blendarray.Settings(...) and/or its fields as "
            "keywords ({names}); a keyword replaces the object's field. "
            "help(blendarray.Settings) says what each does.")


def takes_settings(entry):
    """Give a function (or a class's __init__) that takes `settings=` (keyword-only)
    the settings as keywords too: its signature gains one keyword-only parameter
    per field (help() and IDEs show them), its docstring (the class's) a pointer
    to Settings, and it receives settings= a checked Settings. A keyword that is
    neither its own nor a setting is a TypeError naming the close ones."""
    import functools
    import inspect
    import textwrap
    func = entry.__init__ if isinstance(entry, type) else entry
    sig = inspect.signature(func)
    own = sig.parameters
    if own.get("settings", None) is None or own["settings"].kind != inspect.Parameter.KEYWORD_ONLY:
        raise TypeError(f"{func.__qualname__} must take settings= as a keyword-only parameter")
    where = entry.__name__ if isinstance(entry, type) else func.__name__

    @functools.wraps(func)
    def wrapper(*args, **kw):
        given = {k: kw.pop(k) for k in NAMES if k in kw}
        for k in kw:
            if k not in own:
                raise TypeError(f"{where}() got an unexpected keyword argument {k!r}"
                                f"{did_you_mean(k, [*own, *NAMES])}")
        kw["settings"] = Settings.of(kw.get("settings"), **given)
        return func(*args, **kw)

    wrapper.__signature__ = sig.replace(parameters=[*own.values()] + [
        inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default)
        for f in fields(Settings)])
    pointer = textwrap.fill(_POINTER.format(names=", ".join(NAMES)), 80)
    doc = inspect.cleandoc(entry.__doc__ or "")
    if isinstance(entry, type):
        entry.__init__ = wrapper
        entry.__doc__ = f"{doc}\n\n{pointer}"
        return entry
    wrapper.__doc__ = f"{doc}\n\n{pointer}"
    return wrapper
