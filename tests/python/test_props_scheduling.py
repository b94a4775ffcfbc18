"""Property tests (Hypothesis) of blendarray.Renderer's scheduling (src/renderer.c),
each against a model small enough to state here, with the fake worker of
tests/python/rogue_worker.py in its "plan" mode: a real process speaking the
real protocol, told per frame how long to take and how often to die (a JSON
file), and logging when it started and ended each request. No Blender.

The models (W workers, ring R, retries r, timeout T, n frames 0..n-1):

1. Ordering. ordered=True (the default): the frames come out in index order
   whatever the delays and W. ordered=False: every index exactly once, with its
   own data; one worker renders in order, so W=1 is index order again; and "as
   they finish": a frame that ended (worker's clock) well before another is
   handed out before it. A slow frame holds back nothing but the frame queued
   behind it on its own worker (BA_MAX_INFLIGHT - 1 at most): every frame
   rendered by another worker comes out first.
2. Timeouts. T bounds each frame, not the run: frames each well under T whose
   total is well over T all arrive. A frame that takes longer than T on s of
   its attempts: its worker is stopped and the frame retried; it arrives if
   s <= r, else the run raises WorkerError "index k failed on worker w after
   r+1 attempt(s): Blender (worker w) did not finish a frame within T s; it
   was stopped" once the frames before it are out, after about (r+1) T, long
   before the slow render would have ended.
3. Retries. A frame whose worker dies d times while rendering it: rendered
   again (on a restarted worker) if d <= r, each frame rendered to the end
   exactly once; else WorkerError "index k failed on worker w after r+1
   attempt(s): Blender (worker w, pid p) exited with status 1 while
   rendering", k such an index (ordered: the first, after the frames before
   it). A frame's count is its own: a crash while it waited behind another
   frame on the same worker does not use up its retries.
4. Back-pressure. A frame comes in one of its worker's R slots, or, while
   every slot is held, in the worker's spare (memory of its own: one frame at
   a time, its first frame included), held while any array over the frame
   lives: C = W (R + 1) frames at most. A consumer that keeps the last K
   frames (or one array of each): every frame arrives when K < C; when K >= C
   and n > C, exactly C frames arrive, then BlendArrayError "every ring slot is
   held by frames you still keep (W workers x R slots)", never a hang; `held`
   counts the frames kept; released, the Renderer renders again.

Timing assertions compare only wide gaps (a 1 s or 30 s render against ones of
at most 0.12 s, a timeout 5 times the longest frame), never an absolute duration
a loaded machine could break; where the worker's log shows the machine paused,
the order it would have decided is not asserted.
"""
import json
import os
import re
import tempfile
import time

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import blendarray as ba
from blendarray import _core
from support import ROOT

ROGUE = os.path.join(ROOT, "tests", "python", "rogue_worker.py")
MAX_INFLIGHT = 4  # BA_MAX_INFLIGHT (src/renderer.h): frames queued on one worker at once
SLOW = 30.0       # a render that a timeout must cut short: never waited for


def props(max_examples=6):
    return settings(derandomize=True, deadline=None, database=None, max_examples=max_examples,
                    suppress_health_check=[HealthCheck.too_slow])

small_delay = st.sampled_from([0.0, 0.0, 0.01, 0.05, 0.1])


class Run:
    """One example's world: a private TMPDIR (the workers' folders, checked to be
    gone afterwards), the plan file the rogue worker follows, its log."""

    def __init__(self, plan):
        self.plan = plan

    def __enter__(self):
        self._dir = tempfile.TemporaryDirectory(prefix="props-sched-")
        self.dir = self._dir.name
        self.path = os.path.join(self.dir, "plan.json")
        with open(self.path, "w") as f:
            json.dump(self.plan, f)
        new = {"ROGUE": "plan", "ROGUE_PLAN": self.path, "TMPDIR": self.dir,
               "ROGUE_PYTHONPATH": os.path.dirname(os.path.dirname(_core.__file__))}
        self._old = {k: os.environ.get(k) for k in new}
        os.environ.update(new)
        return self

    def __exit__(self, et, ev, tb):
        for k, v in self._old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        left = [n for n in os.listdir(self.dir) if n.startswith("blendarray-")]
        self._dir.cleanup()
        if et is None:
            assert left == [], f"a worker's folder was left behind: {left}"

    def replan(self, plan):
        """A new plan, followed from the next request on."""
        with open(self.path + ".new", "w") as f:
            json.dump(plan, f)
        os.replace(self.path + ".new", self.path)

    def events(self):
        """The worker's log: [{"ev", "index", "attempt", "pid", "t"}], in time order."""
        try:
            with open(self.path + ".log") as f:
                return sorted((json.loads(line) for line in f), key=lambda e: e["t"])
        except FileNotFoundError:
            return []

    def ends(self):
        """index -> when its (last) render ended, worker's clock."""
        return {e["index"]: e["t"] for e in self.events() if e["ev"] == "end"}


def renderer(**kw):
    return ba.Renderer(blender=ROGUE, **kw)


def check_frame(f, index):
    assert f.meta["index"] == index
    assert float(f["rgba"][0, 0, 0]) == float(index), "a frame got another frame's pixels"


def worker_error(k, attempts, cause):
    """The message (up to Blender's output) of frame k failing after `attempts`."""
    return re.compile(rf"^index {k} failed on worker (\d+) after {attempts} attempt\(s\): "
                      rf"Blender \(worker \1{cause}\.\nBlender's last output:\n")


# -- 1. ordering -------------------------------------------------------------------------


@props()
@given(workers=st.integers(1, 3), delays=st.lists(small_delay, min_size=1, max_size=8))
def test_ordered_delivery_is_index_order(workers, delays):
    """ordered=True: index order whatever the delays and the number of workers;
    when frame i comes out, every frame before it has ended (worker's log)."""
    with Run({"delay": {str(i): d for i, d in enumerate(delays)}}) as run, \
            renderer(workers=workers) as r:
        got = []
        for f in r.frames(len(delays)):
            check_frame(f, len(got))
            ended = run.ends()
            assert all(j in ended for j in range(len(got))), "handed out before an earlier one"
            got.append(f.meta["index"])
        assert got == list(range(len(delays)))


def any_order(r, n):
    """r.frames(n, ordered=False): the indices in the order they came, and when
    the consumer asked for each (index -> its clock before the call)."""
    got, asked = [], {}
    frames = r.frames(n, ordered=False)
    while True:
        t = time.monotonic()
        f = next(frames, None)
        if f is None:
            return got, asked
        check_frame(f, f.meta["index"])
        got.append(f.meta["index"])
        asked[got[-1]] = t


GAP = 0.5  # "well before", in seconds: a pause of the loaded machine stays under it


@props()
@given(workers=st.integers(1, 3),
       delays=st.lists(st.sampled_from([0.0, 0.0, 0.02, 0.05, 1.0]), min_size=1, max_size=7))
@example(workers=2, delays=[1.0, 0.0, 0.02, 0.0]).via("a slow first frame")
def test_any_order_delivery_is_as_they_finish(workers, delays):
    """ordered=False: every index once, with its data; W=1 renders (so delivers) in
    index order; and a frame a that ended (worker's clock) GAP before b ended came
    out before b, when the consumer asked for b's turn before b ended (one that
    comes later finds both done: the first submitted comes first)."""
    assume(delays.count(1.0) <= 1)
    with Run({"delay": {str(i): d for i, d in enumerate(delays)}}) as run, \
            renderer(workers=workers) as r:
        got, asked = any_order(r, len(delays))
        ended = run.ends()
    assert sorted(got) == list(range(len(delays))), "an index missing or twice"
    if workers == 1:
        assert got == list(range(len(delays)))
    place = {index: at for at, index in enumerate(got)}
    for a in got:
        for b in got:
            if ended[a] + GAP < ended[b] and asked[b] < ended[b]:
                assert place[a] < place[b], f"{a} ended {GAP} s before {b} but came after it"


@props(max_examples=3)
@given(workers=st.integers(2, 3), n=st.integers(3, 8), data=st.data())
def test_a_slow_frame_does_not_hold_back_the_others(workers, n, data):
    """ordered=False, one frame of 1 s among instant ones: every frame another worker
    rendered comes out before it; after it at most the frames that were queued
    behind it on its own worker (BA_MAX_INFLIGHT - 1). (Unless the machine paused:
    a frame of another worker ended less than GAP before the slow one, or the
    consumer asked for the slow one's turn after it had ended.)"""
    slow = data.draw(st.integers(0, n - 1), label="slow")
    with Run({"delay": {str(slow): 1.0}}) as run, renderer(workers=workers) as r:
        got, asked = any_order(r, n)
        events = run.events()
    assert sorted(got) == list(range(n))
    pid = {e["index"]: e["pid"] for e in events if e["ev"] == "start"}
    ended = {e["index"]: e["t"] for e in events if e["ev"] == "end"}
    others = [i for i in got if pid[i] != pid[slow]]
    if asked[slow] >= ended[slow] or any(ended[i] > ended[slow] - GAP for i in others):
        return  # the machine paused: nothing to tell
    after = got[got.index(slow) + 1:]
    why = f"{after} waited for slow frame {slow}: {got}, worker log {events}"
    assert not set(after) & set(others), why
    assert len(after) <= MAX_INFLIGHT - 1, why


# -- 2. timeouts -------------------------------------------------------------------------


@props(max_examples=3)
@given(delays=st.lists(st.sampled_from([0.1, 0.12]), min_size=11, max_size=12),
       dawdle=st.sampled_from([0.0, 0.0, 1.1]))
@example(delays=[0.12] * 11, dawdle=1.1).via("a consumer slower than the timeout")
def test_the_timeout_bounds_each_frame_not_the_run(delays, dawdle):
    """timeout=1, one worker: frames of at most 0.12 s, more than 1 s in all, all
    arrive, in order, each rendered once; also when the consumer dawdles 1.1 s over
    each frame (longer than the timeout, while the next one waits done). (A margin
    of 0.88 s a frame: a loaded machine's pauses must not look like a timeout.)"""
    if dawdle:
        delays = delays[:3]
    with Run({"delay": {str(i): d for i, d in enumerate(delays)}}) as run, \
            renderer(timeout=1.0, retries=0) as r:
        t0 = time.monotonic()
        for i, f in enumerate(r.frames(len(delays))):
            check_frame(f, i)
            time.sleep(dawdle)
        total = time.monotonic() - t0
        starts = [e["index"] for e in run.events() if e["ev"] == "start"]
    assert total > 1.0, "the run was shorter than the timeout: nothing tested"
    assert starts == list(range(len(delays))), "a frame was rendered again"


@props()
@given(n=st.integers(1, 4), data=st.data(), retries=st.integers(0, 2),
       slow_times=st.integers(1, 2), workers=st.integers(1, 2))
def test_a_frame_over_the_timeout_is_retried_then_fails_naming_it(n, data, retries,
                                                                   slow_times, workers):
    """timeout=1: frame k takes 30 s on its first `slow_times` attempts, then 0.
    slow_times <= retries: every frame arrives in order. Else, after frames 0..k-1,
    WorkerError naming k, its worker and r+1 attempts, the timeout as the cause,
    long before 30 s."""
    k = data.draw(st.integers(0, n - 1), label="k")
    plan = {"delay": {str(k): [SLOW] * slow_times + [0.0]}}
    with Run(plan) as run, renderer(timeout=1.0, retries=retries, workers=workers) as r:
        got = []
        t0 = time.monotonic()
        if slow_times <= retries:
            got = [f.meta["index"] for f in r.frames(n)]
            assert got == list(range(n))
        else:
            with pytest.raises(ba.WorkerError) as e:
                for f in r.frames(n):
                    got.append(f.meta["index"])
            assert worker_error(k, retries + 1, r"\) did not finish a frame within 1 s; "
                                                r"it was stopped").match(str(e.value)), str(e.value)
            assert got == list(range(k))
        elapsed = time.monotonic() - t0
        asked = sum(1 for e in run.events() if e["ev"] == "start" and e["index"] == k)
    assert elapsed < SLOW / 3, "the slow render was waited for"
    assert asked == min(slow_times, retries) + 1


@pytest.mark.parametrize("workers, timeout", [(1, 5.0), (2, None)])
def test_waiting_for_a_slow_frame_costs_no_cpu(workers, timeout):
    """Model: while every worker renders (a frame of 1 s), the consumer sleeps in
    poll() until a reply or the timeout is due: it wakes a few times (a reply, a
    worker's output), not every millisecond, and its CPU time is a small part of
    the wait (not a loop that polls with no wait)."""
    import resource
    with Run({"delay": {"0": 1.0, "1": 1.0}}), renderer(workers=workers, timeout=timeout) as r:
        t0, c0 = time.monotonic(), time.process_time()
        s0 = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        got = [f.meta["index"] for f in r.frames(2)]
        wakes = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - s0
        wall, cpu = time.monotonic() - t0, time.process_time() - c0
    assert got == [0, 1] and wall >= 1.0
    assert cpu < 0.25 * wall, f"{cpu:.2f} s of CPU over a wait of {wall:.2f} s"
    assert wakes < 100 * wall, f"{wakes} sleeps over a wait of {wall:.2f} s"


# -- 3. retries --------------------------------------------------------------------------


@props(max_examples=6)
@given(workers=st.integers(1, 3), n=st.integers(1, 6), retries=st.integers(0, 2),
       ordered=st.booleans(), data=st.data())
@example(workers=1, n=4, retries=1, ordered=True, data=None).via("two neighbours die once")
def test_a_dying_worker_is_restarted_within_the_retries(workers, n, retries, ordered, data):
    """Frame i kills its worker on its first die[i] requests. Every die[i] <= r: all
    frames arrive (in order when ordered), each rendered to the end once. Else
    WorkerError naming a frame with die[i] > r (ordered: the first), after r+1
    attempts, the worker's exit as the cause; ordered, after exactly the frames
    before it."""
    if data is None:  # the explicit example: frames 1 and 2 each die once, retries=1
        die = {1: 1, 2: 1}
    else:
        die = data.draw(st.dictionaries(st.integers(0, n - 1), st.integers(1, 3), max_size=2),
                        label="die")
    delays = {str(i): 0.02 for i in range(n)}  # frames queue up behind one another
    with Run({"die": {str(i): d for i, d in die.items()}, "delay": delays}) as run, \
            renderer(workers=workers, retries=retries) as r:
        bad = sorted(i for i, d in die.items() if d > retries)
        got = []
        if not bad:
            for f in r.frames(n, ordered=ordered):
                check_frame(f, f.meta["index"])
                got.append(f.meta["index"])
            assert got == list(range(n)) if ordered else sorted(got) == list(range(n)), got
            ends = [e["index"] for e in run.events() if e["ev"] == "end"]
            assert sorted(ends) == list(range(n)), "a frame was rendered to the end twice"
        else:
            with pytest.raises(ba.WorkerError) as e:
                for f in r.frames(n, ordered=ordered):
                    got.append(f.meta["index"])
            m = re.match(r"^index (\d+) failed", str(e.value))
            k = int(m.group(1)) if m else None
            assert k in bad if not ordered else k == bad[0], str(e.value)
            assert worker_error(k, retries + 1, r", pid \d+\) exited with status 1 while "
                                                r"rendering").match(str(e.value)), str(e.value)
            assert e.value.returncode == 1
            if ordered:
                assert got == list(range(k))
        run.replan({})  # usable afterwards
        assert [f.meta["index"] for f in r.frames(2)] == [0, 1]


@props(max_examples=4)
@given(die_init=st.integers(0, 3), retries=st.integers(0, 2))
def test_a_worker_dying_while_starting_is_started_again_within_the_retries(die_init, retries):
    """Model: a worker whose first `die_init` starts die is started again, up to
    `retries` more times: die_init <= retries, every frame arrives after die_init + 1
    starts; else Renderer() itself raises WorkerError, with the exact cause (the
    exit while starting, not a reply's), after exactly retries + 1 starts."""
    with Run({"die_init": die_init}) as run:
        if die_init <= retries:
            with renderer(retries=retries) as r:
                assert [f.meta["index"] for f in r.frames(3)] == [0, 1, 2]
        else:
            with pytest.raises(ba.WorkerError) as e:
                renderer(retries=retries)
            assert re.match(r"^Blender \(worker 0, pid \d+\) exited with status 1 while starting\.\n"
                            r"Blender's last output:\nrogue worker: dying while starting", str(e.value)), \
                str(e.value)
        starts = [ev for ev in run.events() if ev["ev"] == "init"]
    assert len(starts) == min(die_init, retries) + 1, starts


@props(max_examples=4)
@given(k=st.integers(0, 3), ring=st.integers(1, 2))
def test_a_frame_that_fails_frees_its_slot(k, ring):
    """Model: frame k's setup hook fails (SetupError "index k: boom k"): frames
    0..k-1 arrive, then the error; the ring slot the frame was to fill is free
    again, so the Renderer goes on: three failing runs and three good ones, with a
    ring of one or two slots, all as the model says."""
    with Run({}) as run, renderer(ring=ring) as r:
        for rnd in range(3):
            with open(run.path, "w") as f:  # requests for k are counted over the rounds:
                json.dump({"fail": {str(k): 2 * rnd + 1}}, f)  # this round's first fails
            got = []
            with pytest.raises(ba.SetupError) as e:
                for fr in r.frames(k + 2):
                    got.append(fr.meta["index"])
                    del fr  # kept, the last frame would hold its slot
            assert str(e.value) == f"index {k}: boom {k}" and got == list(range(k)), (rnd, got)
            got = []
            for fr in r.frames(k + 2):
                got.append(fr.meta["index"])
                del fr
            assert got == list(range(k + 2)), rnd


# -- 4. back-pressure --------------------------------------------------------------------


def keep_window(r, n, K, keep_array=False):
    """Ask r for n frames, keeping the last K (or their "rgba" arrays), checking
    `held` as it goes: (indices got, BlendArrayError or None, what is kept)."""
    kept, got = [], []
    try:
        for f in r.frames(n):
            check_frame(f, len(got))
            got.append(f.meta["index"])
            kept.append(f["rgba"] if keep_array else f)
            del f
            assert r.held == len(kept)
            if len(kept) > K:
                kept.pop(0)
                assert r.held == len(kept), "a frame dropped is still held"
    except ba.BlendArrayError as e:
        assert r.held == len(kept)
        return got, e, kept
    return got, None, kept


def ring_full(e, workers, ring):
    return (type(e) is ba.BlendArrayError and
            str(e).startswith(f"every ring slot is held by frames you still keep "
                              f"({workers} workers x {ring} slots)"))


@props(max_examples=10)
@given(workers=st.integers(1, 3), ring=st.integers(1, 3), data=st.data(),
       keep_array=st.booleans(), delays=st.lists(small_delay, max_size=4))
def test_a_consumer_that_keeps_frames_gets_what_the_ring_holds(workers, ring, data,
                                                               keep_array, delays):
    """A fresh Renderer; the consumer keeps the last K frames (or only their "rgba"
    arrays). Each worker holds R + 1 frames for it (R slots and its spare frame):
    C = W (R + 1). K < C: all n frames (K = C - 1: a window that frees one frame as
    it takes the next, the worst case for a scheduler that would wait for the
    frame the consumer still has). K >= C and n > C: frames 0..C - 1, then
    BlendArrayError naming W and R, never a hang. `held` is the number kept.
    Released, every slot and spare comes back: kept all, a second run gets C
    frames again, then the same error; a third that keeps nothing gets every frame."""
    capacity = workers * (ring + 1)
    K = data.draw(st.sampled_from([0, workers * ring, capacity - 1, capacity, capacity + 2,
                                   10 ** 6]), label="K")
    n = data.draw(st.integers(1, capacity + 3), label="n")
    plan = {"delay": {str(i): d for i, d in enumerate(delays)}}
    with Run(plan), renderer(workers=workers, ring=ring) as r:
        got, e, kept = keep_window(r, n, K, keep_array)
        if K >= capacity and n > capacity:
            assert e is not None and ring_full(e, workers, ring), f"{e} (K={K}, n={n})"
            assert got == list(range(capacity))
        else:
            assert e is None, f"{e} (K={K}, n={n}, ring {workers} x {ring})"
            assert got == list(range(n))
        del kept, e
        assert r.held == 0
        got, e, kept = keep_window(r, capacity + 1, 10 ** 6)
        assert e is not None and ring_full(e, workers, ring), f"{e}"
        assert got == list(range(capacity))
        del kept, e
        got, e, kept = keep_window(r, capacity + 2, 0)
        assert e is None, f"{e}"
        assert got == list(range(capacity + 2))
