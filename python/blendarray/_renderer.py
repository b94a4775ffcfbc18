"""Renderer: warm Blender workers streaming frames through shared memory.

A thin layer over libblendarray's ba_renderer (through the extension's
_core.Renderer), the one consumer of the worker protocol (docs/protocol.md):
here are the argument checks, the setup hook's description, and Frames built
over the memory C hands out. Each worker renders straight into a slot of its
shared-memory ring; the arrays are NumPy views of that slot (no copy), and
the slot goes back to its worker when the last array over it is gone. When
the consumer holds every slot, no new frame is dispatched: memory is bounded
by workers x ring x slot size.
"""
import atexit
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import warnings
import weakref

import numpy as np

from ._errors import BlendArrayError, BlendArrayWarning, BlenderNotFoundError
from ._frame import Frame
from . import _protocol
from ._hooks import make_spec
from ._checks import check_scene
from ._settings import frame_params, takes_settings

INSTALL_HINT = ("install one: `apt-get install blender` (Debian/Ubuntu) or `pip install bpy` "
                "(a Python matching the bpy wheel), or name one with blender='/path/to/blender' "
                "or BLENDARRAY_BLENDER")

_live = weakref.WeakSet()  # Renderers not closed yet: closed at interpreter exit


@atexit.register
def _close_all():
    """A script or notebook that never closes its Renderer: stop the workers
    while the interpreter still works (PR_SET_PDEATHSIG would kill them anyway,
    but only after Python has torn down what close() needs)."""
    for r in list(_live):
        try:
            r.close(kill=True)
        except Exception:
            pass


def find_blender(blender=None, python=None):
    """Which Blender to run: ('binary', path) or ('bpy', python executable).

    `blender` (else $BLENDARRAY_BLENDER): "bpy", "blender" (the binary on PATH),
    or a path to a Blender binary. Default: the `blender` binary on PATH, else the
    bpy module if this Python can import it. `python`: the Python whose bpy
    renders (implies "bpy"; default: this Python). Any Python works: bpy wheels
    exist for one Python version each, the consumer may run another.
    """
    if python is not None:
        if blender not in (None, "bpy"):
            raise BlendArrayError(f"python={python!r} names the Python that runs bpy; it goes "
                                  f"with blender='bpy', not blender={blender!r}")
        return "bpy", _bpy_python(python)
    choice = blender or os.environ.get("BLENDARRAY_BLENDER") or ""
    if choice == "bpy":
        if importlib.util.find_spec("bpy") is None:
            raise BlenderNotFoundError(f"blender='bpy' but this Python ({sys.executable}) "
                                       f"cannot import bpy; {INSTALL_HINT}")
        return "bpy", sys.executable
    if choice and choice != "blender":
        if not (os.path.isfile(choice) and os.access(choice, os.X_OK)):
            raise BlenderNotFoundError(f"Blender binary {choice!r} does not exist or is not "
                                       f"executable; {INSTALL_HINT}")
        return "binary", choice
    path = shutil.which("blender")
    if path:
        return "binary", path
    if choice == "blender":
        raise BlenderNotFoundError(f"no `blender` on PATH; {INSTALL_HINT}")
    if importlib.util.find_spec("bpy") is not None:
        return "bpy", sys.executable
    raise BlenderNotFoundError(f"no Blender found: no `blender` on PATH and this Python "
                               f"({sys.executable}) cannot import bpy; {INSTALL_HINT}")


def _bpy_python(python):
    """`python`, checked: an executable that can import bpy (found, not imported)."""
    exe = shutil.which(python) if os.sep not in python else python
    if not exe or not os.access(exe, os.X_OK):
        raise BlenderNotFoundError(f"python={python!r}: no such executable")
    p = subprocess.run([exe, "-c", "import importlib.util as u, sys; "
                        "sys.exit(u.find_spec('bpy') is None)"], capture_output=True)
    if p.returncode != 0:
        raise BlenderNotFoundError(f"python={python!r} cannot import bpy; install it there "
                                   f"(`{exe} -m pip install bpy`)")
    return os.path.abspath(exe)


def load_core():
    """The C extension, or an error that says why it cannot be loaded and what to do.

    Imported only where it is used: this package also loads inside Blender's
    Python, which may not match the extension's."""
    from . import __version__
    here = os.path.dirname(os.path.abspath(__file__))
    v = sys.version_info
    this = f"this Python ({v.major}.{v.minor}.{v.micro}, {sys.executable})"
    fix = (f"install blendarray for this Python: `{sys.executable} -m pip install "
           f"/path/to/blendarray` (a checkout) or the wheel you built")
    try:
        from . import _core as core
    except ImportError as e:
        import glob
        import sysconfig
        built = sorted(os.path.basename(p) for p in glob.glob(os.path.join(here, "_core.*.so")))
        want = "_core" + (sysconfig.get_config_var("EXT_SUFFIX") or ".so")
        if built and want not in built:
            why = (f"it was built for another Python ({', '.join(built)}), {this} needs {want}")
        else:
            why = f"{e}"
        raise BlendArrayError(f"blendarray's C extension (blendarray._core) cannot be loaded in "
                              f"{this}: {why}; {fix}") from None
    if core.version() != __version__:
        raise BlendArrayError(f"blendarray {__version__} found a C extension of blendarray "
                              f"{core.version()} ({core.__file__}): a mixed install; {fix}")
    return core


@takes_settings
class Renderer:
    """Warm Blender workers that render frames into shared memory.

        with ba.Renderer("scene.blend", workers=2, passes=["rgba", "depth"],
                         engine="CYCLES", samples=8, resolution=(256, 256),
                         setup=randomize, seed=0) as r:
            for frame in r.frames(range(1, 101)):
                frame["rgba"], frame.meta["index"]

    workers: Blender processes kept warm (`.workers`, `.ring` tell the
      numbers).
    setup: a function (scene, index, rng[, params]) run in the worker before
      each render; its returned dict is merged into frame.meta. A def (sent as
      source), 'file.py[:function]' or 'module:function'. rng is
      numpy.random.default_rng([seed, index]): reproducible whatever the number
      of workers. A per-frame "seed" param (an int or a list of ints) replaces
      seed for that frame: default_rng([*seed, index]).
    ring: shared-memory slots per worker (frames you may hold at once, per
      worker); None: as many as fit in 64 MiB, 4 to 16, by the size of the
      worker's first frame (`.ring` stays None). While every slot is held a
      worker renders one more frame into memory of its own, so a loop that
      keeps only its current frame never waits on it, even with ring=1.
    retries: re-renders of a frame whose worker crashed, before giving up.
    timeout: seconds a frame may take before its worker is stopped (and retried).
    max_worker_frames: replace each worker by a fresh Blender after this many
      frames (None or 0: never), between frames: no frame is lost, repeated or
      reordered, and each renders as in a worker never replaced.
    max_worker_memory: replace a worker whose resident memory passed this many
      bytes after a frame, once the frames already sent to it are in (0: no
      limit; None or -1: half the machine's memory shared by the workers).
      A hook that leaks (loads images, makes data-blocks per frame) stays
      bounded; `.stats` counts the workers replaced.
    blender, python, verbose: which Blender renders, as in blendarray.render().
    A frame's params (frames()) may change some settings for that frame only
    (help(blendarray.Settings) says which), checked as the Settings' fields are.
    """

    def __init__(self, scene=None, workers=1, *, setup=None, seed=0, ring=None, retries=1,
                 blender=None, python=None, timeout=None, verbose=False, settings=None,
                 max_worker_frames=None, max_worker_memory=None):
        self._c = None
        self._busy = False
        self.workers, self.ring = int(workers), None if ring is None else int(ring)
        if self.workers < 1:
            raise BlendArrayError(f"workers must be >= 1, got {workers}")
        if self.ring is not None and self.ring < 1:
            raise BlendArrayError(f"ring must be >= 1 slot per worker, got {ring}")
        recycling = {"max_worker_frames": _check_limit("max_worker_frames", max_worker_frames, 0),
                     "max_worker_memory": _check_limit("max_worker_memory", max_worker_memory, -1)}
        spec = make_spec(setup)
        core = load_core()  # before any Blender starts: a missing extension is the consumer's problem
        flavour, exe = find_blender(blender, python)
        # the folders of consumers that were killed: the library leaves their removal
        # to its callers. Best effort (an unreadable $TMPDIR fails the start, saying so)
        core.tmp_sweep()
        self._c = core.Renderer(
            blender="bpy" if flavour == "bpy" else exe, python=exe if flavour == "bpy" else None,
            package_dir=os.path.dirname(os.path.abspath(core.__file__)), scene=check_scene(scene) if scene is not None else None,
            settings=settings.to_json(),
            setup=None if spec is None else _protocol.dumps(spec),
            seed=int(seed), workers=self.workers, ring=self.ring or 0, retries=int(retries),
            timeout=float(timeout or 0), verbose=bool(verbose), **recycling)
        _live.add(self)

    def render(self, **params):
        """Render one frame with per-frame params (frame=, samples=, ... and your own keys)."""
        for f in self.frames([params]):
            return f

    def frames(self, what, ordered=True, indices=None):
        """Yield Frames for `what`: an int N (N renders of the scene as it is, indices
        0..N-1), animation frame numbers (e.g. range(1, 251)), or dicts of per-frame
        params. In order unless ordered=False (then as they finish).

        indices: each frame's index (the hook's `index`, its rng's seed and
        meta["index"]) instead of 0, 1, 2, ...: e.g. one shard of a larger
        stream, rendered exactly as in the whole stream."""
        if self._busy:
            raise BlendArrayError("frames() is already running on this Renderer")
        if self._c is None:
            raise BlendArrayError("the Renderer is closed")
        if isinstance(what, (int, np.integer)):
            jobs = ({} for _ in range(what))
        else:
            jobs = ({"frame": int(p)} if isinstance(p, (int, np.integer)) else dict(p)
                    for p in what)
        if indices is None:
            return self._run(enumerate(jobs), ordered)
        return self._run(zip((int(i) for i in indices), jobs, strict=True), ordered)

    def _run(self, jobs, ordered):
        self._busy = True
        c = self._c
        exhausted = False
        try:
            while True:
                # a frame queued ahead for each worker: C hands it over the moment a
                # reply makes room, not at the consumer's next call
                while not exhausted and c.queued < self.workers:
                    try:
                        index, params = next(jobs)
                    except StopIteration:
                        exhausted = True
                        break
                    self._submit(index, params)
                got = [c.next(ordered)]
                if got[0] is None:
                    return
                # popped: nothing here keeps the frame's memory while the consumer has
                # it (nor while C waits for the next one): dropped, its slot is free
                yield _frame(*got.pop())
        except GeneratorExit:  # the consumer stopped iterating: let the workers finish
            c.cancel(True)
            raise
        except BaseException:  # Ctrl-C or an error: do not wait for frames in flight
            c.cancel(False)
            raise
        finally:
            self._busy = False

    def _submit(self, index, params):
        """Send one frame now (frames() sends each so; blendarray.gym a step so)."""
        if self._c is None:
            raise BlendArrayError("the Renderer is closed")
        self._c.submit(int(index), _protocol.dumps(frame_params(params)))

    def _take(self):
        """The frame _submit sent first and not taken yet; raises what its worker raised."""
        try:
            got = self._c.next(True)
        except BlendArrayError:
            raise
        except BaseException:  # Ctrl-C: do not wait for the frame in flight
            self._c.cancel(False)
            raise
        if got is None:
            raise BlendArrayError("no frame was submitted")
        return _frame(*got)

    def write_shards(self, frames, dir, *, indices=None, shard_size=1000, shard_bytes=None,
                     coco=False, resume=False, progress=None):
        """Render `frames` (as frames() takes them: an int N, frame numbers, dicts of
        per-frame params; indices as there) into WebDataset shards in the folder
        `dir` (docs/datasets.md), in order; returns a blendarray.shards.ShardsWritten.

        shard_size samples per shard, or (shard_bytes) a shard closes after the
        sample that brings it to that many bytes; coco: a COCO file beside each
        shard (render with display=True, annotations=True). A folder that holds a
        dataset is refused unless resume=True: then only the indices no complete
        shard holds are rendered, and the dataset ends equal, byte for byte, to an
        uninterrupted run's; a resume whose scene, settings, hook, seed or frames
        differ from the folder's is refused, naming what differs. progress: a
        tqdm bar (True; None: when tqdm is installed and stderr is a terminal)."""
        from .shards import render_into
        return render_into(self, frames, dir, indices=indices, shard_size=shard_size,
                           shard_bytes=shard_bytes, coco=coco, resume=resume, progress=progress)

    @property
    def held(self):
        """Frames handed out whose arrays are still alive. Each holds a ring slot
        (of workers x ring): a consumer that keeps many frames can copy() one
        before every slot is held and frames() raises."""
        return self._c.held if self._c is not None else 0

    @property
    def stats(self):
        """Counts since the Renderer started: "frames" received, workers
        "recycled" (max_worker_frames / max_worker_memory) and "restarted" (after
        a crash or a timeout), "over_memory" (first frames after which a worker
        was already over the memory limit: the limit is too low for the scene),
        "memory_limit" (bytes, 0: none) and "max_memory" (the most resident
        memory a worker held after a frame, bytes)."""
        c = self._c
        if c is None:
            return {}
        return {name: c.stat(k) for k, name in enumerate(_STATS)}

    def identity(self):
        """What determines the frames this Renderer makes, as a dict: "scene"
        (None for the demo scene, else its absolute "path", "size" and zlib
        "crc32", read now), "settings", "setup" (the hook's description),
        "seed" and "blender" (the workers' Blender version). Two Renderers
        whose identities are equal render the same frame for the same index."""
        if self._c is None:
            raise BlendArrayError("the Renderer is closed")
        return json.loads(self._c.identity())

    def worker_pids(self):
        """Each worker's process id (0 while a crashed or recycled one waits to be
        started again)."""
        return self._c.pids() if self._c is not None else []

    # -- lifetime --------------------------------------------------------------

    def close(self, kill=False):
        """Stop every worker; frames already received stay valid."""
        c, self._c = self._c, None
        _live.discard(self)
        if c is not None:
            c.close()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close(kill=et is not None)

    def __del__(self):
        if getattr(self, "_c", None) is not None:
            self.close(kill=True)


_STATS = ("recycled", "restarted", "frames", "over_memory", "memory_limit", "max_memory")


def _check_limit(name, value, low):
    """A recycling limit: None (the library's default) or an int low..2**63-1."""
    if value is None:
        return None
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
        raise BlendArrayError(f"{name} must be an integer (or None), not {value!r}")
    if not low <= value < 1 << 63:
        what = "0 (no limit) or more" if low == 0 else "-1 (automatic), 0 (no limit) or more"
        raise BlendArrayError(f"{name} must be {what}, not {value}")
    return int(value)


def _frame(meta_json, arrays):
    meta = json.loads(meta_json)
    fixes = meta.get("warning_fixes") or ()  # per warning: the settings that silence it
    for k, m in enumerate(meta.get("warnings") or ()):
        fix = fixes[k] if k < len(fixes) else None
        if fix:  # in this API's words: denoise=False
            m += f" (pass {', '.join(f'{n}={v!r}' for n, v in fix.items())} to silence this)"
        warnings.warn(m, BlendArrayWarning, stacklevel=4)  # shown once per message
    return Frame({name: np.frombuffer(buf, dtype).reshape(shape)
                  for name, buf, dtype, shape in arrays}, meta)
