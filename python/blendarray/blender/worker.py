"""The worker loop that runs inside Blender (binary or bpy module).

The consumer starts Blender with one end of a socketpair as fd $BLENDARRAY_FD
and sends commands (see blendarray._protocol). Each frame is rendered straight
into the ring slot the consumer names, or into fresh memfds when it does not
fit; only a description of where the arrays lie goes back on the socket.
"""
import ctypes
import fcntl
import math
import mmap
import os
import sys
import traceback

import bpy
import numpy as np

from .. import _hooks, _lib, _protocol
from .._errors import BlendArrayError, WorkerError as WorkerProtocolError
from .._settings import PER_FRAME, Settings
from . import configure, render as _render, scenes
from .env import Env

PAGE = mmap.PAGESIZE


def _layout(specs, start=0):
    layout, off = [], start
    for s in specs:
        dtype = np.dtype(s.dtype)
        nbytes = math.prod(s.shape) * dtype.itemsize
        layout.append({"name": s.name, "dtype": dtype.str, "shape": list(s.shape),
                       "offset": off, "nbytes": nbytes})
        off += -(-nbytes // PAGE) * PAGE
    return layout, off


def _views(buf, layout):
    return {e["name"]: np.frombuffer(buf, e["dtype"], math.prod(e["shape"]),
                                     e["offset"]).reshape(e["shape"]) for e in layout}


class FrameAlloc:
    """Where one frame's arrays go: its ring slot while they fit, else memfds."""

    def __init__(self, ring, slot, cache):
        self.ring, self.slot = ring, slot
        self.used = 0
        self.slot_layout = []
        self.memfds = []  # (fd, size, layout)
        # (slot, offset, specs) -> (layout, end, views): a worker's frames are
        # alike, and working the layout and views out again cost a tenth of a
        # millisecond a frame; the views stay valid while the ring is mapped
        self.cache = cache

    def __call__(self, specs):
        if self.ring is not None and self.slot is not None:
            key = (self.slot, self.used, tuple((s.name, s.dtype, tuple(s.shape)) for s in specs))
            got = self.cache.get(key)
            if got is None:
                layout, end = _layout(specs, self.used)
                views = None
                if end <= self.ring.slot_size:
                    buf = (ctypes.c_uint8 * self.ring.slot_size).from_address(
                        self.ring.slot(self.slot))
                    views = _views(buf, layout)
                if len(self.cache) >= 256:  # frames of ever new shapes: start again
                    self.cache.clear()
                got = self.cache[key] = (layout, end, views)
            layout, end, views = got
            if views is not None:
                self.slot_layout += layout
                self.used = end
                return dict(views)
        layout, size = _layout(specs)
        size = max(size, PAGE)
        fd = os.memfd_create("blendarray-frame", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
        try:
            os.ftruncate(fd, size)
            # Sealed: the consumer maps it, and a file that shrank would SIGBUS it.
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS,
                        fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL)
            mm = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        self.memfds.append((fd, size, layout))
        return _views(mm, layout)

    def parts(self):
        parts = []
        if self.slot_layout:
            parts.append({"slot": self.slot, "size": self.used, "arrays": self.slot_layout})
        parts += [{"slot": None, "size": size, "arrays": layout} for _, size, layout in self.memfds]
        return parts, [fd for fd, _, _ in self.memfds]


class _Settings:
    """The scene's render settings after init, which per-frame settings change
    for one frame only: a frame renders the same whatever frames its worker
    rendered before."""

    def __init__(self, scene):
        r = scene.render
        self.values = [(r, "engine", r.engine), (r, "resolution_x", r.resolution_x),
                       (r, "resolution_y", r.resolution_y),
                       (r, "resolution_percentage", r.resolution_percentage),
                       (r, "threads_mode", r.threads_mode), (r, "threads", r.threads),
                       (scene.display, "render_aa", scene.display.render_aa)]
        for owner, names in ((getattr(scene, "cycles", None), ("samples", "use_denoising")),
                             (scene.eevee, ("taa_render_samples",))):
            if owner is not None:
                self.values += [(owner, n, getattr(owner, n)) for n in names]
        self.frame = scene.frame_current

    def restore(self, scene):
        for owner, name, value in self.values:
            if getattr(owner, name) != value:
                setattr(owner, name, value)
        if scene.frame_current != self.frame:
            scene.frame_set(self.frame)


def memory():
    """This worker's own memory, in bytes, for the consumer's max_worker_memory:
    the resident memory (VmRSS) of this process, less what it shares with the
    consumer (RssShmem: the ring and the frames' memfds, bounded by ring= and
    not this worker's to shed), plus the same of the processes it started (a
    hook's). Read here, after each frame and before its reply, so that it is
    the memory after that frame, not some moment of the next one. None when
    /proc cannot be read."""
    total, todo, seen = 0, [os.getpid()], 0
    while todo and seen < 64:
        pid, seen = todo.pop(), seen + 1
        try:
            status, children = _read(f"/proc/{pid}/status"), _read(f"/proc/{pid}/task/{pid}/children")
            todo += [int(c) for c in children.split()]
        except (OSError, ValueError):
            if pid == os.getpid():
                return None
            continue  # a child that has just ended
        total += (_kb(status, b"\nVmRSS:") - _kb(status, b"\nRssShmem:")) * 1024
    return total


def _read(path):
    # os.open/os.read: a text-mode open() and a line loop cost a tenth of a
    # millisecond a frame here, more than the rest of the reply
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        return os.read(fd, 1 << 16)
    finally:
        os.close(fd)


def _kb(status, key):
    """The number of kB after `key` in /proc/<pid>/status, 0 when absent."""
    at = status.find(key)
    return 0 if at < 0 else int(status[at + len(key):status.index(b"kB", at)])


def same_first_render():
    """Make a worker's first render equal to its later ones: its frames then do
    not depend on how many it rendered before (a recycled or resumed worker
    renders index i as an uninterrupted one does).

    In one Blender process the first render of a mesh with a Subdivision
    Surface modifier last in its stack differs from the later ones on
    Workbench and EEVEE (measured on 3.4.1 and 5.0.1; up to 1e-3 in rgba and
    normal, 1 in 255 in display; Cycles is unaffected): the first render
    subdivides on the CPU, later ones reuse the draw engine's GPU subdivision
    (Preferences > Viewport > GPU Subdivision). Turned off, every render
    subdivides on the CPU, as the first one and Blender's own `blender -b
    scene.blend -f 1` do: the frames equal Blender's command-line renders, at
    no cost (a warm-up render at init also made renders agree, but with the
    second render's values, and cost one render per worker start). Done after
    the scene loads: loading the factory settings (the demo scene) resets it."""
    system = bpy.context.preferences.system
    if getattr(system, "use_gpu_subdivision", False):  # Blender 3.1+
        system.use_gpu_subdivision = False


class Worker:
    def __init__(self, fd):
        self.fd = fd
        self.ring = None
        self.hook = None
        self.env = None  # an environment's reset and step (blendarray.gym)
        self.seed = 0
        self.passes = None
        self.display = False
        self.annotations = False
        self.depth_background = None
        self.base = None
        self.changed = False
        self.views = {}  # FrameAlloc's cache: views of the ring's slots

    def send(self, obj, fds=()):
        _lib.msg_send(self.fd, _protocol.encode(obj), list(fds))

    def init(self, msg):
        if msg.get("protocol") != _protocol.VERSION:
            raise WorkerProtocolError(_protocol.mismatch(msg.get("protocol"), "consumer"))
        # checked before the scene loads, by the Python API's own checks: a client
        # that is not Python (the CLI, a C program) gets the same errors
        st = Settings.from_json(msg.get("settings") or {})
        path = msg.get("scene")
        if path is None:
            scenes.build_demo()
        else:
            try:
                bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)
            except RuntimeError as e:
                raise scenes.open_error(path, e) from None
        same_first_render()
        configure(**{k: getattr(st, k) for k in PER_FRAME})
        self.passes = None if st.passes is None else list(st.passes)
        self.display = st.display
        self.annotations = st.annotations
        self.depth_background = st.depth_background
        self.base = _Settings(bpy.context.scene)  # what a frame's own settings fall back to
        spec = msg.get("setup")
        if spec and spec.get("kind") == "env":  # blendarray.gym: reset and step, not a hook
            self.env = Env(spec, {"bpy": bpy})
        else:
            self.hook = _hooks.load(spec, {"bpy": bpy})
        self.seed = int(msg.get("seed") or 0)
        return {"ok": True, "protocol": _protocol.VERSION,
                "blender_version": bpy.app.version_string}

    def attach_ring(self, fds):
        if not fds:
            raise BlendArrayError("ring command without a ring descriptor")
        self.views.clear()  # views of the old mapping, which close() unmaps
        if self.ring is not None:
            self.ring.close()
        self.ring = _lib.Ring.attach(fds[0])
        return {"ok": True}

    def render(self, msg):
        index, params = int(msg["index"]), msg.get("params") or {}
        own = {k: params[k] for k in ("frame",) + PER_FRAME if k in params}
        if self.changed:  # the last frame's own settings must not leak into this one
            self.base.restore(bpy.context.scene)
        # checked there by _settings.frame_params, as Renderer.frames' dicts are: a
        # client that is not Python (the CLI's --params, a C program) hears the same errors
        self.changed = bool(own)  # before: a setting that fails may follow one applied
        scene = configure(**own)
        extra = {}
        if self.env is not None:  # the scene lives on from step to step: nothing restored
            extra = self.env(scene, (msg.get("user") or {}).get("env"))
        elif self.hook is not None:
            seed = params.get("seed", self.seed)  # a per-frame seed: an int or a list
            rng = np.random.default_rng([*(seed if isinstance(seed, list) else [seed]), index])
            extra = _hooks.call(self.hook, scene, index, rng,
                                dict(params, **(msg.get("user") or {})))
        alloc = FrameAlloc(self.ring, msg.get("slot"), self.views)
        frame = _render(passes=self.passes, display=self.display, scene=scene, alloc=alloc,
                        keep_settings=True, depth_background=self.depth_background,
                        annotations=self.annotations)
        meta = dict(frame.meta, **extra)
        del frame
        parts, fds = alloc.parts()
        try:
            self.send({"ok": True, "job": msg.get("job"), "parts": parts, "meta": meta,
                       "memory": memory()}, fds)
        finally:
            for fd in fds:
                os.close(fd)

    def serve(self):
        while True:
            got = _lib.msg_recv(self.fd)
            if got is None:
                return 0  # the consumer is gone
            data, fds = got
            try:
                msg = _protocol.decode(data, fds)
            except _protocol.ProtocolError:
                return 2
            op = msg.get("op")
            if op == "quit":
                for fd in fds:
                    os.close(fd)
                return 0
            try:
                if op == "render":
                    self.render(msg)
                    continue
                if op == "init":
                    reply = self.init(msg)
                elif op == "ring":
                    reply = self.attach_ring(fds)
                else:
                    raise BlendArrayError(f"unknown command {op!r}")
                self.send(reply)
            except Exception as e:
                err = {"type": type(e).__name__, "message": str(e)}
                if not isinstance(e, BlendArrayError):  # ours carry what matters in the message
                    err["traceback"] = traceback.format_exc()
                if hasattr(e, "available"):
                    err["available"] = list(e.available)
                self.send({"ok": False, "job": msg.get("job"), "error": err,
                           "memory": memory() if op == "render" else None})
            finally:
                for fd in fds:
                    _protocol.close_quietly(fd)


def _die_with_parent():
    """The worker must not outlive its consumer, even after kill -9 of it.
    Done here, not in a preexec_fn: forking a threaded consumer and running
    Python before exec can deadlock."""
    import signal
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(os.environ.get("BLENDARRAY_PARENT", os.getppid())):
        os._exit(1)  # the consumer died before the line above


def main():
    _die_with_parent()
    fd = int(os.environ["BLENDARRAY_FD"])
    if not _lib.peer_check(fd, int(os.environ.get("BLENDARRAY_PARENT", "0"))):
        print("blendarray worker: the control socket's peer is not my parent; exiting",
              file=sys.stderr)
        return 3
    code = Worker(fd).serve()
    sys.stdout.flush()
    return code
