"""Consumer side of one worker: find a Blender, start it, talk to it, clean up.

A worker is a Blender process (the `blender` binary, or a Python that imports
the `bpy` module) running blendarray.blender.worker. It inherits one end of a
SOCK_SEQPACKET socketpair: no socket file exists anywhere, so nothing else can
connect to it and nothing is left behind; the worker also checks with
SO_PEERCRED that the other end is its parent.
"""
import collections
import glob
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading

from . import _protocol
from ._errors import BlendArrayError, BlenderNotFoundError, WorkerError

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


def sweep_stale(tmp=None):
    """Remove temporary directories of consumers that died without cleaning up
    (kill -9): they are named blendarray-<pid>-*, and that pid is gone."""
    tmp = tmp or tempfile.gettempdir()
    try:
        names = os.listdir(tmp)
    except OSError:
        return
    for name in names:
        parts = name.split("-")
        if len(parts) < 3 or parts[0] != "blendarray" or not parts[1].isdigit():
            continue
        path = os.path.join(tmp, name)
        try:
            os.kill(int(parts[1]), 0)
            continue  # its consumer lives
        except ProcessLookupError:
            pass
        except PermissionError:
            continue  # someone else's process
        try:
            if os.stat(path).st_uid == os.getuid():
                shutil.rmtree(path, ignore_errors=True)
        except OSError:
            pass


def load_core():
    """The C extension, or an error that says why it cannot be loaded and what to do.

    Imported only where it is used: this package also loads inside Blender's
    Python, which may not match the extension's."""
    try:
        from . import _core as core
    except ImportError as e:
        v = sys.version_info
        raise BlendArrayError(
            f"blendarray's C extension (blendarray._core) cannot be loaded in this Python "
            f"({v.major}.{v.minor}.{v.micro}, {sys.executable}): {e}. It is built for one "
            f"Python at a time: build it for this one with `make python PYTHON={sys.executable}` "
            f"in the blendarray checkout") from None
    return core



class Worker:
    """One Blender process and its control socket."""

    def __init__(self, blender=None, verbose=False, name="worker"):
        load_core()  # before any Blender starts: a missing extension is the consumer's problem
        self.flavour, exe = find_blender(blender)
        self.name = name
        sweep_stale()
        # 0700, named for this process so that a later run can remove it if we are killed
        self.tmpdir = tempfile.mkdtemp(prefix=f"blendarray-{os.getpid()}-")
        self.output = collections.deque(maxlen=40)
        self.proc = None
        self.verbose = verbose
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
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
                stdout=out_w, stderr=out_w, start_new_session=True)
        except BaseException:
            parent.close()
            os.close(out_r)
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise
        finally:
            child.close()
            os.close(out_w)
        self.sock = parent
        # Blender's output is read from the raw pipe by a daemon thread that owns
        # the fd: no buffered file object whose lock a thread could hold while the
        # interpreter shuts down (that aborts Python).
        self._reader = threading.Thread(target=self._read_output, args=(out_r,), daemon=True)
        self._reader.start()

    # start_new_session: Ctrl-C in a terminal goes to the consumer only; the
    # consumer then stops its workers itself, in order, and cleans up.

    def fileno(self):
        return self.sock.fileno()

    def _read_output(self, fd):
        rest = b""
        try:
            while True:
                try:
                    chunk = os.read(fd, 65536)
                except InterruptedError:
                    continue
                except OSError:
                    break
                if not chunk:
                    break
                *lines, rest = (rest + chunk).split(b"\n")
                for raw in lines:
                    self._line(raw)
            self._line(rest)
        finally:
            os.close(fd)

    def _line(self, raw):
        line = raw.decode(errors="replace").rstrip()
        if line:
            self.output.append(line)
            if self.verbose:
                print(f"[{self.name}] {line}", file=sys.stderr)

    def last_lines(self):
        """Blender's last output lines, then the crash report it wrote, if any.

        Blender names the report after the .blend it had open (scene.crash.txt,
        blender.crash.txt when unsaved) and writes it into $TMPDIR: this worker's
        private folder, so whatever is there is this worker's."""
        self._reader.join(timeout=2)
        lines = list(self.output)
        for crash in sorted(glob.glob(os.path.join(glob.escape(self.tmpdir), "*.crash.txt"))):
            try:
                with open(crash, errors="replace") as f:
                    text = f.read().splitlines()[:60]
            except OSError:
                continue
            lines.append(f"--- Blender's crash report ({os.path.basename(crash)}) ---")
            lines += text
        return "\n".join(lines)

    def died(self, doing):
        """The WorkerError for a worker that is gone (reaping it)."""
        try:
            rc = self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        how = (f"was killed by {signal.Signals(-rc).name}" if rc < 0 else f"exited with status {rc}")
        out = self.last_lines()
        return WorkerError(f"Blender ({self.name}, {self.flavour}, pid {self.proc.pid}) {how} while "
                           f"{doing}.\nBlender's last output:\n{out}", out, rc)

    def send(self, msg, fds=()):
        """False if the worker is gone."""
        try:
            load_core().msg_send(self.sock.fileno(), _protocol.encode(msg), list(fds))
            return True
        except BlendArrayError:  # a closed peer (EPIPE): the caller turns it into died()
            return False

    def recv(self, timeout=None):
        """(message, fds), or (None, []) when the worker is gone. TimeoutError after
        timeout s; _protocol.ProtocolError for a message that is not a JSON object."""
        ms = -1 if timeout is None else max(0, int(timeout * 1000))
        try:
            got = load_core().msg_recv(self.sock.fileno(), ms)
        except TimeoutError:
            raise
        except Exception:
            return None, []
        if got is None:
            return None, []
        data, fds = got
        return _protocol.decode(data, fds), fds  # ProtocolError: the caller stops the worker

    def request(self, msg, fds=(), timeout=None, doing="starting"):
        """Send and wait for the reply; raise WorkerError if Blender is gone or silent."""
        if not self.send(msg, fds):
            raise self.died(doing)
        try:
            reply, rfds = self.recv(timeout)
        except _protocol.ProtocolError as e:
            self.close(kill=True)
            raise WorkerError(f"Blender ({self.name}, pid {self.proc.pid}) broke the worker "
                              f"protocol while {doing}: {e}; it was stopped") from None
        except TimeoutError:
            self.close(kill=True)
            raise WorkerError(f"Blender ({self.name}) did not answer within {timeout} s while "
                              f"{doing}; it was stopped.\nBlender's last output:\n"
                              f"{self.last_lines()}") from None
        if reply is None:
            raise self.died(doing)
        return reply, rfds

    def close(self, kill=False):
        """Stop Blender (politely unless kill) and remove everything it left."""
        if self.proc is not None and self.proc.poll() is None:
            if not kill and self.send({"op": "quit"}):
                try:
                    self.proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    pass
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
        if self.proc is not None:
            self._reader.join(timeout=2)  # it ends at EOF and closes the pipe itself
        self.sock.close()
        shutil.rmtree(self.tmpdir, ignore_errors=True)
