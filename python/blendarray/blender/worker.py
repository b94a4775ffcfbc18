"""The worker loop that runs inside Blender (binary or bpy module).

The consumer starts Blender with one end of a socketpair as fd
$BLENDARRAY_FD and sends commands; each rendered frame's arrays are written
straight into a fresh memfd that is passed back with SCM_RIGHTS.
"""
import mmap
import os
import socket
import sys
import traceback

import bpy
import numpy as np

from .. import _protocol
from .._errors import BlendArrayError, SceneError
from . import render as _render, configure, scenes

PAGE = mmap.PAGESIZE


class Arena:
    """Destination arrays of one frame, laid out page-aligned in one memfd."""

    def __init__(self):
        self.fd = None
        self.layout = []
        self.size = 0

    def __call__(self, specs):
        layout, off = [], 0
        for s in specs:
            nbytes = int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize
            layout.append({"name": s.name, "dtype": np.dtype(s.dtype).str, "shape": list(s.shape),
                           "offset": off, "nbytes": nbytes})
            off += -(-nbytes // PAGE) * PAGE
        size = max(off, PAGE)
        fd = os.memfd_create("blendarray-frame", os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size)
        except BaseException:
            os.close(fd)
            raise
        if self.fd is not None:  # display after passes: a second allocation in one frame
            raise BlendArrayError("internal: one arena per frame")
        self.fd, self.size, self.layout = fd, size, layout
        return {e["name"]: np.frombuffer(mm, e["dtype"], int(np.prod(e["shape"])),
                                         e["offset"]).reshape(e["shape"]) for e in layout}


class MultiArena:
    """Several allocations in one frame (passes, then display) -> several memfds."""

    def __init__(self):
        self.parts = []

    def __call__(self, specs):
        a = Arena()
        self.parts.append(a)
        return a(specs)


class Worker:
    def __init__(self, sock):
        self.sock = sock
        self.loaded = object()  # the scene file now loaded (None: the demo)

    def load(self, path):
        if path == self.loaded:
            return
        if path is None:
            scenes.build_demo()
        else:
            try:
                bpy.ops.wm.open_mainfile(filepath=path, load_ui=False)
            except RuntimeError as e:
                raise SceneError(f"Blender cannot open {path}: {str(e).strip()}") from None
        self.loaded = path

    def render(self, msg):
        self.load(msg.get("scene"))
        scene = configure(engine=msg.get("engine"), samples=msg.get("samples"),
                          resolution=msg.get("resolution"), frame=msg.get("frame"),
                          denoise=msg.get("denoise"), threads=msg.get("threads"))
        arena = MultiArena()
        frame = _render(passes=msg.get("passes"), display=bool(msg.get("display")), scene=scene,
                        alloc=arena, keep_settings=True)
        parts = [{"size": a.size, "arrays": a.layout} for a in arena.parts]
        fds = [a.fd for a in arena.parts]
        try:
            _protocol.send(self.sock, {"ok": True, "parts": parts, "meta": frame.meta}, fds)
        finally:
            del frame
            for fd in fds:
                os.close(fd)

    def serve(self):
        while True:
            msg, fds = _protocol.recv(self.sock)
            for fd in fds:
                os.close(fd)
            if msg is None or msg.get("op") == "quit":
                return 0
            try:
                if msg.get("op") == "render":
                    self.render(msg)
                else:
                    raise BlendArrayError(f"unknown command {msg.get('op')!r}")
            except Exception as e:
                err = {"type": type(e).__name__, "message": str(e),
                       "traceback": traceback.format_exc()}
                if hasattr(e, "available"):
                    err["available"] = list(e.available)
                _protocol.send(self.sock, {"ok": False, "error": err})


def _die_with_parent():
    """The worker must not outlive its consumer, even after kill -9 of it.
    Done here, not in a preexec_fn: forking a threaded consumer and running
    Python before exec can deadlock."""
    import ctypes
    import signal
    ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != int(os.environ.get("BLENDARRAY_PARENT", os.getppid())):
        os._exit(1)  # the consumer died before the line above


def main():
    _die_with_parent()
    fd = int(os.environ["BLENDARRAY_FD"])
    sock = socket.socket(fileno=fd)
    code = Worker(sock).serve()
    sock.close()
    sys.stdout.flush()
    return code
