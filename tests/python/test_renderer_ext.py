"""blendarray.Renderer over libblendarray's ba_renderer, through the extension
(_core_renderer.c), with a quick fake worker (tests/python/rogue_worker.py)
instead of Blender: zero-copy frames and their release, a frame that outlives
its Renderer, errors as the right exception classes, signals during a wait,
and the GIL released while C waits. No Blender: these also run under
ASan/UBSan (make test-python-asan)."""
import itertools
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import blendarray as ba
from blendarray import _core
from support import ROOT

ROGUE = os.path.join(ROOT, "tests", "python", "rogue_worker.py")


@pytest.fixture(autouse=True)
def rogue(monkeypatch, tmp_path):
    monkeypatch.setenv("ROGUE", "good")
    # the package under test (build/dev's, or build/asan's under make test-python-asan,
    # whose libasan the fake worker inherits through LD_PRELOAD)
    monkeypatch.setenv("ROGUE_PYTHONPATH", os.path.dirname(os.path.dirname(_core.__file__)))
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the workers' folders go there
    monkeypatch.delenv("ROGUE_DELAY", raising=False)
    yield
    assert os.listdir(tmp_path) == [], "a worker's folder was left behind"


def _base(a):
    while getattr(a, "base", None) is not None:
        a = a.base
    return a.obj if isinstance(a, memoryview) else a


def test_frames_are_views_of_the_ring_and_go_back_when_dropped():
    with ba.Renderer(blender=ROGUE, workers=2, ring=2) as r:
        held = list(r.frames(6))  # each worker: its first frame in a memfd, then 2 slots
        assert [f.meta["index"] for f in held] == list(range(6))
        for i, f in enumerate(held):
            assert f["rgba"].shape == (4, 4, 4) and f["rgba"].dtype == np.float32
            assert np.all(f["rgba"] == i)
            assert isinstance(_base(f["rgba"]), _core.ArrayBuf)
        slots = [_base(f["rgba"]).slot for f in held]
        assert slots.count(None) == 2 and sorted(s for s in slots if s is not None) == [0, 0, 1, 1]
        held[3]["rgba"][0, 0, 0] = 42.0  # writable, the consumer's own mapping
        del held
        in_slots = 0
        for n, f in enumerate(r.frames(range(10, 30)), start=10):  # 20 more in 2 x 2 slots
            assert f.meta["frame"] == n and np.all(f["rgba"] == n - 10)
            in_slots += _base(f["rgba"]).slot is not None
            f.release()
        # the slots came back: most frames lie in them (a worker's spare takes one
        # only while both its slots are in flight), none if they never came back
        assert in_slots >= 10, in_slots


@pytest.mark.parametrize("workers", [1, 2])
def test_a_loop_that_keeps_only_its_frame_runs_with_one_slot(workers):
    """ring=1: the for loop's variable holds the last frame while the next is
    asked for; each worker renders that one into its spare (its own memory),
    then into the slot the frame before freed: every frame, in order, never the
    ring-full error, and never more than R + 1 frames of a worker held."""
    with ba.Renderer(blender=ROGUE, workers=workers, ring=1) as r:
        n = 0
        for n, f in enumerate(r.frames(12), start=1):
            assert f.meta["index"] == n - 1 and np.all(f["rgba"] == n - 1)
            assert r.held <= 2 * workers
        assert n == 12
        del f  # the loop's last frame
        slots = [_base(f["rgba"]).slot for f in r.frames(6)]  # one at a time: slot 0 or spare
        assert set(slots) <= {0, None} and 0 in slots and None in slots


MiB = 1 << 20


@pytest.mark.parametrize("size,slots", [
    (256, 16),                      # small frames: the most, 16
    (4 * MiB, 16), (4 * MiB + 4096, 15),    # 64 MiB / size, on both sides of 16
    (8 * MiB, 8), (16 * MiB, 4),
    (16 * MiB + 4096, 4), (40 * MiB, 4),    # fewer than 4 fit: still 4
])
def test_the_default_ring_is_sized_by_the_first_frame(monkeypatch, size, slots):
    """ring=None: as many slots as fit in 64 MiB, 4 to 16, by the first frame's
    size; a consumer that keeps every frame gets exactly slots + 1 (its spare)."""
    monkeypatch.setenv("ROGUE_SIZE", str(size))
    with ba.Renderer(blender=ROGUE) as r:
        assert r.ring is None
        kept = []
        with pytest.raises(ba.BlendArrayError) as e:
            for f in r.frames(slots + 3):
                kept.append(f)
        assert len(kept) == slots + 1
        assert str(e.value).startswith(f"every ring slot is held by frames you still keep "
                                       f"(1 workers x {slots} slots)")
        assert sorted(_base(f["rgba"]).slot is None for f in kept) == [False] * slots + [True]


def test_a_ring_given_is_kept_whatever_the_frame_size(monkeypatch):
    monkeypatch.setenv("ROGUE_SIZE", str(40 * MiB))  # the default would be 4
    with ba.Renderer(blender=ROGUE, ring=2) as r:
        kept = []
        with pytest.raises(ba.BlendArrayError, match=r"\(1 workers x 2 slots\)"):
            for f in r.frames(6):
                kept.append(f)
        assert len(kept) == 3


def test_a_leaking_worker_is_sent_two_frames_until_its_growth_is_known(monkeypatch):
    """A worker whose memory grows by 20 MiB a frame from 100 MiB, a 190 MiB limit: its
    growth is known after its third frame (the smaller of two growths), and until
    then it has a frame to render and one queued, not 4: retired at its third
    answer (160 MiB, 160 + 4 x 22.5 > 190), it renders the one frame queued and no
    more, 180 MiB. Sent 4 at once after its first answer, it would reach 200-220."""
    monkeypatch.setenv("ROGUE_MEMORY", f"{100 * MiB},{20 * MiB}")
    with ba.Renderer(blender=ROGUE, max_worker_memory=190 * MiB) as r:
        pids = [f.meta["pid"] for f in r.frames(16)]
        stats = r.stats
    lives = [len(list(g)) for _, g in itertools.groupby(pids)]
    assert lives == [4] * 4, pids
    assert stats["max_memory"] == 180 * MiB and stats["recycled"] == 4


def test_every_slot_held_is_an_error_not_a_hang():
    with ba.Renderer(blender=ROGUE, ring=1) as r:
        kept = []
        with pytest.raises(ba.BlendArrayError, match="ring slot is held"):
            for f in r.frames(5):
                kept.append(f)
        assert len(kept) == 2  # the first frame (own memfd) + the one slot


def test_a_frame_outlives_its_renderer():
    r = ba.Renderer(blender=ROGUE)
    frames = list(r.frames(3))
    pids = r.worker_pids()
    r.close()
    assert all(not os.path.exists(f"/proc/{p}") for p in pids)
    for i, f in enumerate(frames):  # still mapped: the last release frees the renderer
        assert np.all(f["rgba"] == i)
    a = frames[2]["rgba"]
    del frames
    assert np.all(a == 2)


def test_errors_come_as_their_classes(monkeypatch):
    monkeypatch.setenv("ROGUE", "hookerror")
    with ba.Renderer(blender=ROGUE) as r:
        with pytest.raises(ba.SetupError, match="^index 0: boom$"):
            list(r.frames(3))
        with pytest.raises(ba.SetupError, match="^index 0: boom$"):  # usable afterwards
            r.render()
    monkeypatch.setenv("ROGUE", "outside")
    with pytest.raises(ba.WorkerError, match="does not lie inside") as e:
        with ba.Renderer(blender=ROGUE, retries=0) as r:
            r.render()
    assert e.value.output is not None and "index 0 failed on worker 0" in str(e.value)


def test_signals_without_an_exception_keep_waiting(monkeypatch):
    monkeypatch.setenv("ROGUE_DELAY", "0.2")
    ticks = []
    old = signal.signal(signal.SIGALRM, lambda *_: ticks.append(1))
    signal.setitimer(signal.ITIMER_REAL, 0.02, 0.02)
    try:
        with ba.Renderer(blender=ROGUE) as r:  # signals while the worker starts, too
            got = [f.meta["index"] for f in r.frames(4)]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
    assert got == [0, 1, 2, 3]
    assert len(ticks) >= 10  # the handler ran during the waits


def test_ctrl_c_ends_the_wait_and_stops_the_worker(monkeypatch):
    monkeypatch.setenv("ROGUE_DELAY", "60")
    old = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        with ba.Renderer(blender=ROGUE) as r:
            pid = r.worker_pids()[0]
            t0 = time.monotonic()
            threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
            with pytest.raises(KeyboardInterrupt):
                r.render()
            assert time.monotonic() - t0 < 5
            assert not os.path.exists(f"/proc/{pid}"), "the worker rendering was stopped"
    finally:
        signal.signal(signal.SIGINT, old)


def test_the_gil_is_released_while_c_waits(monkeypatch):
    monkeypatch.setenv("ROGUE_DELAY", "0.5")
    with ba.Renderer(blender=ROGUE) as r:
        got = []
        t = threading.Thread(target=lambda: got.extend(f.meta["index"] for f in r.frames(2)))
        stamps = [time.monotonic()]
        t.start()
        while t.is_alive():  # this thread wakes every 10 ms while the other waits in C
            time.sleep(0.01)
            stamps.append(time.monotonic())
        t.join()
    assert got == [0, 1]
    gap = max(b - a for a, b in zip(stamps, stamps[1:]))
    assert stamps[-1] - stamps[0] > 0.9 and gap < 0.25, f"a {gap:.2f} s stall: the wait held the GIL"


def test_stopping_early_lets_the_frames_in_flight_finish(monkeypatch):
    """Leaving frames() with frames in flight waits them out (the workers stay warm)
    and drops them: the next frames() starts clean, at index 0."""
    monkeypatch.setenv("ROGUE_DELAY", "0.1")
    with ba.Renderer(blender=ROGUE, workers=2) as r:
        pids = r.worker_pids()
        for f in r.frames(10):
            if f.meta["index"] == 1:
                break  # two more are in flight on each worker
        del f
        got = [(f.meta["index"], float(f["rgba"][0, 0, 0])) for f in r.frames(3)]
        assert got == [(0, 0.0), (1, 1.0), (2, 2.0)]
        assert r.worker_pids() == pids, "the workers were stopped, not waited for"


def test_a_worker_that_cannot_start_fails_within_retries_under_signals(tmp_path):
    """A worker that dies while starting, while signals keep interrupting the
    wait (a resumed start): restarted `retries` times, then an error, never a
    hang (a start resumed after EINTR used to forget its count)."""
    code = (
        "import os, signal, sys, time\n"
        "import blendarray as ba\n"
        "ticks = []\n"
        "signal.signal(signal.SIGALRM, lambda *_: ticks.append(1))\n"
        "signal.setitimer(signal.ITIMER_REAL, 0.01, 0.01)\n"
        "try:\n"
        "    ba.Renderer(blender=%r, retries=2)\n"
        "except ba.WorkerError as e:\n"
        "    signal.setitimer(signal.ITIMER_REAL, 0)\n"
        "    print('WorkerError', 'while starting' in str(e), 'cannot start' in str(e),\n"
        "          len(ticks) > 5)\n" % ROGUE)
    env = dict(os.environ, ROGUE="nostart")
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=20)  # about 1 s; a hang runs into this
    assert p.stdout.split() == ["WorkerError", "True", "True", "True"], p.stdout + p.stderr
