"""Renderer: warm Blender workers streaming frames through shared memory.

Each worker gets a ring of shared-memory slots (a sealed memfd owned by this
process, see ba_ring_create). A frame is rendered straight into a free slot
and arrives here as NumPy arrays over that slot: no copy, no pickling. The
slot is leased while any array over it lives (the extension's Lease object
is every array's base) and goes back to its worker when the last one dies.
When the consumer holds every slot, no new frame is dispatched: memory is
bounded by workers x ring x slot size.
"""
import atexit
import collections
import fcntl
import mmap
import os
import selectors
import time
import warnings
import weakref

import numpy as np

from ._errors import BY_NAME, BlendArrayError, BlendArrayWarning, PassError, RenderError, WorkerError
from ._frame import Frame
from ._hooks import make_spec
from . import _protocol
from ._protocol import close_quietly
from ._checks import check_passes, check_resolution, check_scene
from ._worker import Worker, load_core

PAGE = mmap.PAGESIZE
_SETTINGS = ("engine", "samples", "resolution", "denoise", "threads")
_PER_FRAME = ("frame",) + _SETTINGS


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


class _Slots:
    """The ring of one worker slot, seen from here: which slots are free."""

    def __init__(self, slots, size):
        self.ring = load_core().Ring(slots, size)
        self.free = collections.deque(range(slots))

    def release(self, index):  # called by a Lease when its last array dies
        self.free.append(index)


class _WorkerState:
    def __init__(self, wid):
        self.id = wid
        self.proc = None
        self.slots = None      # _Slots once the first frame told us the frame size
        self.inflight = {}     # job id -> (index, params, slot)
        self.restarts = 0
        self.progress = 0.0    # when it last answered (or got work while idle)


class Renderer:
    """Warm Blender workers that render frames into shared memory.

        with ba.Renderer("scene.blend", workers=2, passes=["rgba", "depth"],
                         engine="CYCLES", samples=8, resolution=(256, 256),
                         setup=randomize, seed=0) as r:
            for frame in r.frames(range(1, 101)):
                frame["rgba"], frame.meta["index"]

    workers: Blender processes kept warm. threads: render threads per worker.
    setup: a function (scene, index, rng[, params]) run in the worker before
      each render; its returned dict is merged into frame.meta. A def (sent as
      source), 'file.py[:function]' or 'module:function'. rng is
      numpy.random.default_rng([seed, index]): reproducible whatever the number
      of workers.
    ring: shared-memory slots per worker (frames you may hold at once, per worker).
    retries: re-renders of a frame whose worker crashed, before giving up.
    timeout: seconds a frame may take before its worker is stopped (and retried).
    depth_background: what `depth` holds where no geometry was seen: None keeps
      the engine's own marker (1e10 Cycles/Workbench, 65504 EEVEE before 4.2,
      ~clip_end EEVEE Next); float("inf"), float("nan") or any number replaces it.
    """

    def __init__(self, scene=None, workers=1, passes=None, engine=None, samples=None,
                 resolution=None, display=False, denoise=None, threads=None, setup=None,
                 seed=0, ring=4, retries=1, blender=None, timeout=None, verbose=False,
                 depth_background=None):
        if int(workers) < 1:
            raise BlendArrayError(f"workers must be >= 1, got {workers}")
        if int(ring) < 1:
            raise BlendArrayError(f"ring must be >= 1 slot per worker, got {ring}")
        self._init = {
            "op": "init",
            "protocol": _protocol.VERSION,
            "scene": check_scene(scene) if scene is not None else None,
            "settings": {"engine": engine, "samples": samples,
                         "resolution": check_resolution(resolution), "denoise": denoise,
                         "threads": threads, "passes": check_passes(passes),
                         "display": bool(display),
                         "depth_background": _depth_background(depth_background)},
            "setup": make_spec(setup),
            "seed": int(seed),
        }
        self._ring, self._retries, self._timeout = int(ring), int(retries), timeout
        self._blender, self._verbose = blender, verbose
        self._sel = selectors.DefaultSelector()
        self._workers = [_WorkerState(i) for i in range(int(workers))]
        self._job = 0
        self._closed = False
        self._busy = False
        _live.add(self)
        try:
            for w in self._workers:
                self._start(w)
        except BaseException:
            self.close(kill=True)
            raise

    # -- workers ---------------------------------------------------------------

    def _start(self, w):
        w.proc = Worker(self._blender, self._verbose, name=f"worker {w.id}")
        try:
            reply, fds = w.proc.request(self._init, timeout=max(self._timeout or 0, 300),
                                        doing="starting")
            for fd in fds:
                close_quietly(fd)
            if not reply.get("ok"):
                raise _error_from(reply.get("error") or {})
            if reply.get("protocol") != _protocol.VERSION:
                raise WorkerError(f"Blender ({w.proc.name}): "
                                  + _protocol.mismatch(reply.get("protocol"), "worker"))
            if w.slots is not None:  # a restarted worker keeps its ring
                reply, _ = w.proc.request({"op": "ring"}, [w.slots.ring.fd], timeout=60,
                                          doing="attaching its ring")
                if not reply.get("ok"):
                    raise _error_from(reply.get("error") or {})
        except BaseException:
            w.proc.close(kill=True)
            w.proc = None
            raise
        self._sel.register(w.proc.sock, selectors.EVENT_READ, w)

    def _stop(self, w, kill=True):
        if w.proc is not None:
            try:
                self._sel.unregister(w.proc.sock)
            except (KeyError, ValueError):
                pass
            w.proc.close(kill=kill)

    def _restart(self, w):
        self._stop(w)
        w.proc = None
        w.restarts += 1
        self._start(w)

    # -- frames ----------------------------------------------------------------

    def render(self, **params):
        """Render one frame with per-frame params (frame=, samples=, ... and your own keys)."""
        for f in self.frames([params]):
            return f

    def frames(self, what, ordered=True):
        """Yield Frames for `what`: an int N (N renders of the scene as it is, indices
        0..N-1), animation frame numbers (e.g. range(1, 251)), or dicts of per-frame
        params. In order unless ordered=False (then as they finish)."""
        if self._busy:
            raise BlendArrayError("frames() is already running on this Renderer")
        if self._closed:
            raise BlendArrayError("the Renderer is closed")
        if isinstance(what, int):
            jobs = ({} for _ in range(what))
        else:
            jobs = ({"frame": int(p)} if isinstance(p, (int, np.integer)) else dict(p)
                    for p in what)
        return self._run(enumerate(jobs), ordered)

    def _run(self, jobs, ordered):
        self._busy = True
        pending = collections.deque()   # (index, params) to (re)dispatch first
        attempts = collections.Counter()
        done = {}                       # index -> Frame or exception
        next_index, exhausted = 0, False
        try:
            while True:
                # Dispatch to every worker with room: one frame in flight while its
                # ring is unknown, else up to two (so it never idles between frames).
                for w in self._workers:
                    while self._has_room(w):
                        if pending:
                            index, params = pending.popleft()
                        elif not exhausted:
                            try:
                                index, params = next(jobs)
                            except StopIteration:
                                exhausted = True
                                break
                        else:
                            break
                        if w.proc is None:  # crashed earlier: restart it now that work waits
                            self._restart(w)
                        self._dispatch(w, index, params)
                # Yield one frame, then dispatch again: the consumer may have released
                # slots while it held the frame.
                if ordered and next_index in done:
                    next_index += 1
                    yield _unwrap(done.pop(next_index - 1))
                    continue
                if not ordered and done:
                    yield _unwrap(done.pop(next(iter(done))))
                    continue
                inflight = any(w.inflight for w in self._workers)
                if not inflight:
                    if exhausted and not pending and not done:
                        return
                    # Work remains, but no worker has a free slot and none is busy.
                    raise BlendArrayError(
                        f"every ring slot is held by frames you still keep "
                        f"({len(self._workers)} workers x {self._ring} slots): release some "
                        "(del frame / frame.release() / frame.copy()) or pass a larger ring=")
                self._wait(done, pending, attempts)
        except GeneratorExit:  # the consumer stopped iterating: drain what is running
            self._abandon()
            raise
        except BaseException:  # Ctrl-C or an error: do not wait for frames in flight
            for w in self._workers:
                if w.inflight:
                    self._drop(w)
            raise
        finally:
            self._busy = False

    @staticmethod
    def _has_room(w):
        if w.slots is None:
            return not w.inflight
        return len(w.inflight) < 2 and bool(w.slots.free)

    def _dispatch(self, w, index, params):
        self._job += 1
        slot = w.slots.free.popleft() if w.slots is not None else None
        unknown = [k for k in params if k not in _PER_FRAME]
        msg = {"op": "render", "job": self._job, "index": index, "slot": slot,
               "params": {k: params[k] for k in params if k in _PER_FRAME},
               "user": {k: params[k] for k in unknown}}
        if "resolution" in params:
            msg["params"]["resolution"] = check_resolution(params["resolution"])
        if not w.inflight:
            w.progress = time.monotonic()
        w.inflight[self._job] = (index, params, slot)
        w.proc.send(msg)  # if Blender is gone, its socket reports end of stream next

    def _wait(self, done, pending, attempts):
        """Block until a worker answers (no polling loop), or a frame overruns the timeout."""
        timeout = None
        if self._timeout is not None:
            now = time.monotonic()
            timeout = max(0.0, min(w.progress + self._timeout - now
                                   for w in self._workers if w.inflight))
        for key, _ in self._sel.select(timeout):
            w = key.data
            if w.proc is None:
                continue
            try:
                reply, fds = w.proc.recv(timeout=0)
            except TimeoutError:
                continue
            except _protocol.ProtocolError as e:  # stop it; its frames go again
                self._crashed(w, done, pending, attempts, f"broke the worker protocol: {e}")
                continue
            if reply is None:
                self._crashed(w, done, pending, attempts, None)
                continue
            w.progress = time.monotonic()
            self._receive(w, reply, fds, done)
        if self._timeout is not None:  # no answer for `timeout` s: stop that worker, retry its frames
            now = time.monotonic()
            for w in self._workers:
                if w.inflight and now - w.progress >= self._timeout:
                    self._crashed(w, done, pending, attempts,
                                  f"did not finish a frame within {self._timeout} s")

    def _receive(self, w, reply, fds, done):
        job = reply.get("job")
        if job not in w.inflight:
            for fd in fds:
                close_quietly(fd)
            return
        index, _, slot = w.inflight.pop(job)
        try:
            if not reply.get("ok"):
                if slot is not None:
                    w.slots.release(slot)
                done[index] = _error_from(reply.get("error") or {}, index)
                return
            arrays = {}
            fd_iter = iter(fds)
            total = 0
            for part in reply["parts"]:
                if part.get("slot") is not None:
                    if part["slot"] != slot:
                        raise WorkerError(f"worker {w.id} answered with slot {part['slot']}, "
                                          f"not the slot {slot} it was given")
                    lease = w.slots.ring.lease(part["slot"], w.slots.release)
                    buf = lease
                else:
                    fd = next(fd_iter, None)
                    if fd is None:
                        raise WorkerError(f"Blender (worker {w.id}) sent a frame part without "
                                          "its memory")
                    buf = _map_sealed(fd, part["size"])
                total += part["size"]
                for a in part["arrays"]:
                    arrays[a["name"]] = _array_in(buf, a, w)
            if slot is not None and not any(p.get("slot") == slot for p in reply["parts"]):
                w.slots.release(slot)  # the frame did not fit its slot: it came in memfds
            meta = reply.get("meta") or {}
            meta.update(index=index, worker=w.id)
            for m in meta.get("warnings") or ():
                warnings.warn(m, BlendArrayWarning, stacklevel=3)  # shown once per message
            done[index] = Frame(arrays, meta)
            if w.slots is None:  # first frame: now the slot size is known
                size = -(-max(total, PAGE) // PAGE) * PAGE
                w.slots = _Slots(self._ring, size)
                ok, _ = w.proc.request({"op": "ring"}, [w.slots.ring.fd], timeout=60,
                                       doing="attaching its ring")
                if not ok.get("ok"):
                    raise _error_from(ok.get("error") or {})
        finally:
            for fd in fds:
                close_quietly(fd)

    def _crashed(self, w, done, pending, attempts, why):
        if why is None:
            err = w.proc.died("rendering")
        else:
            self._stop(w)
            out = w.proc.last_lines()
            err = WorkerError(f"Blender ({w.proc.name}) {why}; it was stopped.\n"
                              f"Blender's last output:\n{out}", out)
        lost = sorted(w.inflight.values(), key=lambda t: t[0])
        for index, params, slot in lost:
            if slot is not None:
                w.slots.release(slot)
        w.inflight.clear()
        retry = []
        for index, params, _ in lost:
            attempts[index] += 1
            if attempts[index] > self._retries:
                e = WorkerError(f"index {index} failed on worker {w.id} after {attempts[index]} "
                                f"attempt(s): {err}", err.output, err.returncode)
                done[index] = e
            else:
                retry.append((index, params))
        pending.extendleft(reversed(retry))  # re-rendered first, keeping the order
        self._stop(w)
        w.proc = None  # restarted when there is work for it

    def _drop(self, w):
        """Forget w's frames in flight and stop it (it restarts when work waits)."""
        for _, _, slot in w.inflight.values():
            if slot is not None:
                w.slots.release(slot)
        w.inflight.clear()
        self._stop(w)
        w.proc = None

    def _abandon(self):
        """The consumer stopped iterating with frames in flight: wait them out (their
        replies would otherwise arrive in the next frames() call)."""
        for w in self._workers:
            while w.inflight and w.proc is not None:
                try:
                    reply, fds = w.proc.recv(timeout=self._timeout)
                except (TimeoutError, _protocol.ProtocolError):  # silent or broken: stop it
                    reply, fds = None, []
                if reply is None:
                    self._drop(w)
                    break
                job = reply.get("job")
                entry = w.inflight.pop(job, None)
                for fd in fds:
                    close_quietly(fd)
                if entry is not None and entry[2] is not None:
                    w.slots.release(entry[2])

    # -- lifetime --------------------------------------------------------------

    def close(self, kill=False):
        """Stop every worker; frames already received stay valid."""
        if self._closed:
            return
        self._closed = True
        _live.discard(self)
        for w in self._workers:
            self._stop(w, kill)
            w.proc = None
        self._sel.close()

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        self.close(kill=et is not None)

    def __del__(self):
        if not getattr(self, "_closed", True):
            self.close(kill=True)


def _array_in(buf, a, w):
    """The array a worker describes, over its memory: only if it lies inside it."""
    try:
        dtype, shape = np.dtype(a["dtype"]), [int(d) for d in a["shape"]]
        offset, nbytes = int(a["offset"]), int(a["nbytes"])
        count = 1
        for d in shape:
            count *= d
        size = len(memoryview(buf))
        ok = (dtype.kind in "fiu" and len(shape) in (2, 3) and min(shape) >= 0 and offset >= 0
              and nbytes == count * dtype.itemsize and offset + nbytes <= size)
    except (KeyError, TypeError, ValueError):
        ok = False
    if not ok:
        raise WorkerError(f"Blender (worker {w.id}) described an array that does not lie inside "
                          f"the memory it sent ({str(a)[:200]}); the iteration stops")
    return np.frombuffer(buf, dtype, count, offset).reshape(shape)


def _depth_background(value):
    if value is None:
        return None
    try:
        return repr(float(value))  # a string: JSON has no inf/nan
    except (TypeError, ValueError):
        raise BlendArrayError(f"depth_background must be a number (e.g. float('inf')) or None, "
                              f"not {value!r}") from None


def _map_sealed(fd, size):
    """Map a frame memfd from a worker: it must be sealed against shrinking (else the
    worker could truncate it and SIGBUS us) and at least `size` bytes long."""
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:
        seals = 0
    if not seals & fcntl.F_SEAL_SHRINK or os.fstat(fd).st_size < size:
        raise WorkerError("a worker sent frame memory that is not a sealed memfd of the size "
                          "it states")
    return mmap.mmap(fd, size)


def _unwrap(x):
    if isinstance(x, BaseException):
        raise x
    return x


def _error_from(err, index=None):
    cls = BY_NAME.get(err.get("type"), RenderError)
    msg = err.get("message") or "unknown error in the worker"
    # `index`: the position in the request (frame.meta["index"]), not a scene frame number
    where = f"index {index}: " if index is not None else ""
    if err.get("type") not in BY_NAME:  # an unexpected error in the worker: its traceback helps
        msg = f"{err.get('type')}: {msg}\n{err.get('traceback', '')}"
    if cls is PassError:
        return cls(where + msg, err.get("available", ()))
    return cls(where + msg)
