"""Consumer side: find a Blender, start a worker, talk to it, clean up.

A worker is a Blender process (the `blender` binary, or a Python that imports
the `bpy` module) running blendarray.blender.worker. It inherits one end of a
socketpair; the frame's pixels come back in memfds, mapped here without a copy.
"""
import collections
import importlib.util
import mmap
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

import numpy as np

from . import _protocol
from ._errors import BY_NAME, BlenderNotFoundError, RenderError, WorkerError, PassError
from ._frame import Frame

_PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_WORKER_MAIN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blender", "worker_main.py")

INSTALL_HINT = ("install one: `apt-get install blender` (Debian/Ubuntu) or `pip install bpy` "
                "(a Python matching the bpy wheel), or name one with blender='/path/to/blender' "
                "or BLENDARRAY_BLENDER")


def find_blender(blender=None):
    """Which Blender to run: ('binary', path) or ('bpy', python executable).

    `blender` (else $BLENDARRAY_BLENDER): "bpy", "blender" (the binary on PATH),
    or a path to a Blender binary. Default: the `blender` binary on PATH, else the
    bpy module if this Python can import it.
    """
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


class Worker:
    """One Blender process and its control socket."""

    def __init__(self, blender=None, verbose=False):
        self.flavour, exe = find_blender(blender)
        self.tmpdir = tempfile.mkdtemp(prefix="blendarray-")  # 0700: Blender's temp files go here
        self.output = collections.deque(maxlen=40)
        self.proc = None
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            env = dict(os.environ, BLENDARRAY_FD=str(child.fileno()), TMPDIR=self.tmpdir,
                       BLENDARRAY_PARENT=str(os.getpid()))
            if self.flavour == "binary":
                cmd = [exe, "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                       "--python", _WORKER_MAIN]
            else:
                cmd = [exe, "-c", "import blendarray.blender.worker as w, os; os._exit(w.main())"]
                env["PYTHONPATH"] = os.pathsep.join(
                    [_PKG_PARENT] + [p for p in [env.get("PYTHONPATH")] if p])
            self.proc = subprocess.Popen(
                cmd, env=env, pass_fds=[child.fileno()], stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        except BaseException:
            parent.close()
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        finally:
            child.close()
        self.sock = parent
        self.verbose = verbose
        self._reader = threading.Thread(target=self._read_output, daemon=True)
        self._reader.start()

    def _read_output(self):
        for raw in self.proc.stdout:
            line = raw.decode(errors="replace").rstrip()
            if line:
                self.output.append(line)
                if self.verbose:
                    print(line, file=sys.stderr)

    def _last_lines(self):
        self._reader.join(timeout=2)
        lines = list(self.output)
        crash = os.path.join(self.tmpdir, "blender.crash.txt")
        if os.path.exists(crash):
            with open(crash, errors="replace") as f:
                lines.append("--- blender.crash.txt ---")
                lines += f.read().splitlines()[:40]
        return "\n".join(lines)

    def _died(self, doing):
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        how = (f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}")
        out = self._last_lines()
        return WorkerError(f"Blender ({self.flavour}, pid {self.proc.pid}) {how} while {doing}.\n"
                           f"Blender's last output:\n{out}", out, rc)

    def request(self, msg, timeout=None):
        try:
            _protocol.send(self.sock, msg)
        except OSError:
            raise self._died("receiving a command") from None
        self.sock.settimeout(timeout)
        try:
            reply, fds = _protocol.recv(self.sock)
        except socket.timeout:
            self.close(kill=True)
            raise WorkerError(f"Blender did not answer within {timeout} s; it was stopped.\n"
                              f"Blender's last output:\n{self._last_lines()}") from None
        except (OSError, _protocol.ProtocolError):
            reply, fds = None, []
        if reply is None:
            raise self._died("rendering")
        return reply, fds

    def render(self, timeout=None, **params):
        reply, fds = self.request(dict(params, op="render"), timeout)
        try:
            if not reply.get("ok"):
                err = reply.get("error") or {}
                cls = BY_NAME.get(err.get("type"), RenderError)
                msg = err.get("message") or "unknown error in the worker"
                if cls is RenderError and err.get("type") not in BY_NAME:
                    msg = f"{err.get('type')}: {msg}\n{err.get('traceback', '')}"
                if cls is PassError:
                    raise cls(msg, err.get("available", ()))
                raise cls(msg)
            arrays = {}
            for part, fd in zip(reply["parts"], fds, strict=True):
                mm = mmap.mmap(fd, part["size"])  # shared with nobody now: the worker closed it
                for a in part["arrays"]:
                    count = int(np.prod(a["shape"]))
                    arrays[a["name"]] = np.frombuffer(mm, a["dtype"], count,
                                                      a["offset"]).reshape(a["shape"])
            return Frame(arrays, reply.get("meta"))
        finally:
            for fd in fds:
                os.close(fd)

    def close(self, kill=False):
        """Stop Blender (politely unless kill) and remove everything it left."""
        if self.proc is not None and self.proc.poll() is None:
            if not kill:
                try:
                    _protocol.send(self.sock, {"op": "quit"})
                    self.proc.wait(timeout=10)
                except (OSError, subprocess.TimeoutExpired, _protocol.ProtocolError):
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self._reader.join(timeout=2)
            self.proc.stdout.close()
        self.sock.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close(kill=et is not None)
