"""Setup hooks: how a consumer describes one, and how a Blender worker loads it.

A hook is a function (scene, index, rng[, params]) that runs inside Blender
before each render. The consumer cannot send a live function to another
process, so it sends a description (a JSON-able dict, the "spec"):

- {"kind": "file", "path", "name"}: a .py file, run by Blender (runpy).
- {"kind": "module", "module", "name"}: an importable module.
- {"kind": "callable", ...}: a function object of the consumer's, sent as
    module (+ path): imported by Blender when it can import that module;
    source: the function's own text, run when the module cannot be imported
      (or is the user's __main__: a script, a notebook, a REPL);
    code + python: the function's marshalled bytecode, for a function whose
      source Python does not keep (typed into `python -c` or `python -`),
      run only by a Blender whose Python is the same version;
    globals: what the function's body reads from its module, so that the
      source or code runs as it did there: imports (`import math`, `from x
      import y`), simple constants (numbers, strings, tuples of them, ...),
      and other functions and classes of the module (their source, or code).
  A global that is none of these (a NumPy array, an open file, an object of
  the script's own making) cannot be sent: the spec is refused with a message
  that names it and says what to do.

Pure Python: imported by the consumer and inside Blender (any Python version).
"""
import ast
import base64
import builtins
import dis
import importlib
import inspect
import marshal
import os
import runpy
import sys
import textwrap
import traceback
import types

from ._errors import SetupError

_HOW = ("put the hook (and what it uses) in a .py file and pass setup='file.py:function', "
        "or compute it inside the hook")


class Spec(dict):
    """A hook already described: make_spec passes it on as it is (a dataset
    describes its hook once, where the function lives, and sends the Spec)."""


def make_spec(setup):
    """The spec for `setup`: None, a callable, 'file.py[:function]', 'module:function'
    or a Spec."""
    if setup is None or isinstance(setup, Spec):
        return setup
    return Spec(_describe(setup))


def _describe(setup):
    if isinstance(setup, (str, os.PathLike)):
        return _spec_of_string(os.fspath(setup))
    if not callable(setup):
        raise SetupError(f"setup must be callable or a 'file.py:function' string, not {setup!r}")
    if not isinstance(setup, types.FunctionType):
        raise SetupError(f"setup must be a function defined with def, not {type(setup).__name__} "
                         f"{setup!r}; {_HOW}")
    name = setup.__qualname__
    if name == "<lambda>" or "<" in name or "." in name:
        raise SetupError(f"the setup hook must be a top-level def (not a lambda, a method or a "
                         f"nested function: {name}): Blender imports it, or runs its source")
    if setup.__closure__:
        raise SetupError(f"the setup hook {name} reads variables of an enclosing function; "
                         f"{_HOW}")
    mod = setup.__module__
    spec = {"kind": "callable", "name": name}
    spec.update(_definition(setup))
    importable = None
    if mod and mod != "__main__":
        modobj = sys.modules.get(mod)
        f = getattr(modobj, "__file__", None)
        if f:
            root = os.path.dirname(os.path.abspath(f))
            for _ in range(mod.count(".") + (os.path.basename(f).startswith("__init__."))):
                root = os.path.dirname(root)
            importable = {"module": mod, "path": root}
    if importable:
        # Blender imports the module when it can; else (it imports what Blender
        # lacks, pytest say) the function runs alone with what it uses, as far
        # as that can be sent: a global that cannot is left out, not refused.
        spec.update(importable)
    spec["globals"] = _globals_of(setup, strict=not importable)
    return spec


def _spec_of_string(s):
    path, _, name = s.rpartition(":") if ":" in s and not os.path.exists(s) else (s, "", "")
    if path.endswith(".py") or os.path.exists(path):
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            raise SetupError(f"setup hook file {path} does not exist")
        return {"kind": "file", "path": path, "name": name or "setup"}
    if not path or not name:
        raise SetupError(f"setup={s!r}: give a function, a .py file (function 'setup' in it), "
                         "'file.py:function' or 'module:function'")
    return {"kind": "module", "module": path, "name": name}


def _definition(obj):
    """How to rebuild a function or class of the consumer's: its source, or
    (functions only) its bytecode when Python kept no source."""
    try:
        return {"source": textwrap.dedent(inspect.getsource(obj))}
    except (OSError, TypeError):
        pass
    if not isinstance(obj, types.FunctionType):
        raise SetupError(f"the setup hook uses class {obj.__qualname__}, whose source Python "
                         f"did not keep; {_HOW}")
    defaults = {}
    for key, values in (("defaults", obj.__defaults__), ("kwdefaults", obj.__kwdefaults__)):
        if values:
            text = _literal(values)
            if text is None:
                raise SetupError(f"function {obj.__qualname__} has default values that cannot be "
                                 f"sent to Blender; {_HOW}")
            defaults[key] = text
    return {"code": base64.b64encode(marshal.dumps(obj.__code__)).decode(),
            "python": sys.implementation.cache_tag, **defaults}


def _literal(value):
    """repr(value) when it reads back as an equal value (numbers, strings, and
    containers of them), else None."""
    try:
        text = repr(value)
        return text if ast.literal_eval(text) == value else None
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _global_names(code):
    """Names a code object (and the code nested in it) reads as globals."""
    names = []
    todo = [code]
    while todo:
        c = todo.pop()
        for ins in dis.get_instructions(c):
            if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME", "STORE_GLOBAL", "DELETE_GLOBAL"):
                name = ins.argval if isinstance(ins.argval, str) else ins.argrepr.split()[-1]
                if name not in names:
                    names.append(name)
        todo += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    return names


def _globals_of(fn, strict, seen=None):
    """Entries that recreate what `fn` reads from its module (see the module doc).
    strict: a global that cannot be sent raises SetupError; else it is left out."""
    seen = set() if seen is None else seen
    seen.add(id(fn))
    entries = []
    g = fn.__globals__
    code = fn.__code__ if isinstance(fn, types.FunctionType) else None
    if code is None:  # a class: the globals its methods read
        names = []
        for v in vars(fn).values():
            v = getattr(v, "__func__", v)
            if isinstance(v, types.FunctionType):
                names += [n for n in _global_names(v.__code__) if n not in names]
    else:
        names = _global_names(code)
    for name in names:
        if name not in g:
            continue  # a builtin, or a name defined later: as it would be in the module
        value = g[name]
        if value is getattr(builtins, name, object()):
            continue
        entry = _entry(name, value, fn, strict, seen, entries)
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(name, value, fn, strict, seen, entries):
    if isinstance(value, types.ModuleType):
        return {"import": value.__name__, "as": name}
    mod = getattr(value, "__module__", None)
    qual = getattr(value, "__qualname__", None) or ""
    callable_kind = isinstance(value, (types.FunctionType, type, types.BuiltinFunctionType))
    if callable_kind and mod and "<" not in qual and "." not in qual:
        if mod not in ("__main__", fn.__module__):
            return {"from": mod, "import": qual, "as": name}  # imported in Blender
        if isinstance(value, (types.FunctionType, type)):
            # A sibling in the hook's own module: recreated beside it (with what it uses).
            if id(value) in seen:
                return None
            try:
                sub = _globals_of(value, strict, seen)
                definition = _definition(value)
            except SetupError:
                if strict:
                    raise
                return None
            entries.extend(sub)
            return dict(definition, define=name, real=value.__name__)
    text = _literal(value)
    if text is not None:
        return {"value": text, "as": name}
    msg = (f"the setup hook {fn.__qualname__} uses {name!r}, a {type(value).__name__} of "
           f"module {fn.__module__}, which cannot be sent to Blender (only imports, simple "
           f"constants, functions and classes can); {_HOW}")
    if strict:
        raise SetupError(msg)
    return None


# ----------------------------------------------------------------------------
# Inside Blender
# ----------------------------------------------------------------------------

def load(spec, namespace=None):
    """The hook a spec describes: (function, number of parameters), or None.

    namespace: names every hook run from source sees (the worker gives `bpy`)."""
    if not spec:
        return None
    if spec.get("kind") == "string":  # the CLI's --setup, read as setup= reads it
        spec = _spec_of_string(spec["spec"])
    name = spec.get("name") or "setup"
    try:
        fn = _load(spec, name, namespace or {})
    except SetupError:
        raise
    except Exception as e:
        raise SetupError(f"cannot load the setup hook {name!r}: {type(e).__name__}: {e}\n"
                         f"{_user_traceback(e)}") from None
    if not callable(fn):
        raise SetupError(f"setup hook {name!r} is not callable")
    try:
        nargs = len(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        nargs = 3
    return fn, nargs


def _load(spec, name, namespace):
    kind = spec["kind"]
    if kind == "file":
        return runpy.run_path(spec["path"], run_name="blendarray_setup")[name]
    if spec.get("module"):
        if spec.get("path") and spec["path"] not in sys.path:
            sys.path.insert(0, spec["path"])
        try:
            fn = importlib.import_module(spec["module"])
            for part in name.split("."):
                fn = getattr(fn, part)
            return fn
        except ImportError:
            if kind == "module":
                raise
            # the module needs what this Blender lacks: run the function alone
    ns = {"__name__": "blendarray_setup", "__builtins__": builtins, **namespace}
    for entry in spec.get("globals") or ():
        _apply(entry, ns)
    return _define(dict(spec, define=name), ns)


def _apply(entry, ns):
    if "import" in entry and "from" not in entry:
        ns[entry["as"]] = importlib.import_module(entry["import"])
    elif "from" in entry:
        ns[entry["as"]] = getattr(importlib.import_module(entry["from"]), entry["import"])
    elif "value" in entry:
        ns[entry["as"]] = ast.literal_eval(entry["value"])
    else:
        ns[entry["define"]] = _define(entry, ns)


def _define(entry, ns):
    name = entry["define"]
    real = entry.get("real", name)  # the def's own name (a global may be an alias)
    if "source" in entry:
        exec(compile(entry["source"], f"<setup hook: {real}>", "exec"), ns)
        ns[name] = ns[real]
        return ns[name]
    if entry.get("python") != sys.implementation.cache_tag:
        raise SetupError(
            f"the setup hook {name!r} was defined where Python keeps no source (python -c, or "
            f"a script piped into python -), so it travels as bytecode of "
            f"{entry.get('python')}, which this Blender's Python ({sys.implementation.cache_tag}) "
            f"cannot run; {_HOW}")
    code = marshal.loads(base64.b64decode(entry["code"]))
    fn = types.FunctionType(code, ns, real)
    if entry.get("defaults"):
        fn.__defaults__ = ast.literal_eval(entry["defaults"])
    if entry.get("kwdefaults"):
        fn.__kwdefaults__ = ast.literal_eval(entry["kwdefaults"])
    ns[name] = fn
    return fn


def _user_traceback(e, skip=0):
    """The traceback of e from the user's code on: `skip` frames of ours dropped."""
    tb = e.__traceback__
    for _ in range(skip):
        if tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
    return "".join(traceback.format_exception(type(e), e, tb))


def call(hook, scene, index, rng, params):
    """Run the hook for one frame; its dict (or {}) for frame.meta, or SetupError
    carrying the hook's own traceback (none of the worker's frames)."""
    fn, nargs = hook
    try:
        extra = fn(scene, index, rng, params) if nargs >= 4 else fn(scene, index, rng)
    except Exception as e:
        # the consumer names the index; the scene frame is known only here
        raise SetupError(f"the setup hook raised on scene frame {scene.frame_current}: "
                         f"{type(e).__name__}: {e}\n"
                         f"{_user_traceback(e, skip=1)}") from None
    if extra is None:
        return {}
    if not isinstance(extra, dict):
        raise SetupError(f"the setup hook returned {type(extra).__name__}; "
                         "return a dict (merged into frame.meta) or None")
    return extra
