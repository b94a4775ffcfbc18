"""Renderer: warm workers streaming frames through shared memory."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import blendarray as ba
from blendarray import _core
from blendarray._worker import sweep_stale
from support import ROOT
from test_bad_input import _blenders_with_tmpdir, _children, leaves_nothing  # noqa: F401

HOOKS = os.path.join(ROOT, "tests", "python", "hooks.py")


def randomize(scene, index, rng):
    cube = scene.objects["RedCube"]
    cube.rotation_euler.z = rng.uniform(0, 6.283)
    return {"angle": cube.rotation_euler.z}


def _base(a):
    """The object that owns an array's memory (a Lease for a ring slot)."""
    while True:
        nxt = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
        if nxt is None:
            return a
        a = nxt


def test_stream_in_order_with_setup_hook(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), workers=2, passes=["rgba", "depth", "object_index"],
                     engine="CYCLES", samples=1, resolution=(64, 48), setup=randomize, seed=7,
                     blender=flavour) as r:
        got = []
        for f in r.frames(range(1, 9)):
            got.append((f.meta["index"], f.meta["frame"], f.meta["angle"], f.meta["worker"],
                        f["rgba"].copy(), type(_base(f["rgba"]))))
    assert [g[0] for g in got] == list(range(8))
    assert [g[1] for g in got] == list(range(1, 9))
    for index, _, angle, _, _, _ in got:  # the hook's rng is default_rng([seed, index])
        assert abs(angle - np.random.default_rng([7, index]).uniform(0, 6.283)) < 1e-5
    assert {g[3] for g in got} == {0, 1}, "both workers rendered"
    assert sum(g[5] is _core.Lease for g in got) >= 4, "frames after the first come in ring slots"
    assert not all(np.array_equal(got[0][4], g[4]) for g in got[1:]), "the hook changed the scene"


def test_same_frames_whatever_the_number_of_workers(flavour, scenes):
    def run(workers):
        with ba.Renderer(scenes("demo"), workers=workers, passes=["rgba"], engine="CYCLES",
                         samples=1, resolution=(48, 36), setup=randomize, seed=3,
                         blender=flavour) as r:
            return [f["rgba"].copy() for f in r.frames(6)]
    one, two = run(1), run(2)
    for a, b in zip(one, two):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_zero_copy_and_dlpack(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), passes=["rgba", "depth"], engine="CYCLES", samples=1,
                     resolution=(32, 24), blender=flavour) as r:
        frames = list(r.frames(3))
        f = frames[-1]
        assert isinstance(_base(f["depth"]), _core.Lease)
        d = np.from_dlpack(f["depth"])  # torch.from_dlpack reads the same protocol
        assert np.shares_memory(d, f["depth"])
        assert f["rgba"].flags.c_contiguous and f["rgba"].shape == (24, 32, 4)
        assert np.array_equal(frames[0]["rgba"], f["rgba"])  # same scene, same frame


def test_back_pressure_and_release(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), ring=2, blender=flavour) as r:
        kept = []
        with pytest.raises(ba.BlendArrayError, match="ring slot is held"):
            for f in r.frames(10):
                kept.append(f)  # holding every frame: the ring runs out
        assert len(kept) == 3  # the first frame (own memfd) + 2 ring slots
        kept.clear()
        n = 0
        for f in r.frames(10):  # keeping none: runs through in 2 slots
            n += 1
            f.release()
        assert n == 10


def test_unordered_delivers_each_once(flavour, scenes):
    with ba.Renderer(scenes("demo"), workers=2, passes=["rgba"], engine="WORKBENCH",
                     resolution=(32, 24), blender=flavour) as r:
        seen = [f.meta["index"] for f in r.frames(7, ordered=False)]
    assert sorted(seen) == list(range(7))


def with_params(scene, index, rng, params):
    return {"tag": params["tag"], "frame_seen": scene.frame_current}


def test_params_dicts_and_single_render(flavour, scenes):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), setup=with_params, blender=flavour) as r:
        fs = list(r.frames([{"frame": 5, "tag": "a"}, {"frame": 9, "tag": "b",
                                                        "resolution": (16, 12)}]))
        assert [f.meta["tag"] for f in fs] == ["a", "b"]
        assert [f.meta["frame_seen"] for f in fs] == [5, 9]
        assert fs[1]["rgba"].shape == (12, 16, 4)
        one = r.render(frame=3, tag="c")
        assert one.meta["frame"] == 3 and one.meta["tag"] == "c"


def test_hook_error_reaches_consumer_and_worker_survives(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), setup=HOOKS + ":fail_on_three", blender=flavour) as r:
        got = []
        with pytest.raises(ba.SetupError) as e:
            for f in r.frames(6):
                got.append(f.meta["index"])
        assert got == [0, 1, 2]
        assert "frame 3" in str(e.value) and "ValueError" in str(e.value)
        assert "fail_on_three" in str(e.value)  # the hook's traceback
        assert r.render().meta["index"] == 0


def test_bad_hook_is_refused_at_start(flavour, scenes, leaves_nothing):
    with pytest.raises(ba.SetupError, match="no_such_function"):
        ba.Renderer(scenes("demo"), setup=HOOKS + ":no_such_function", blender=flavour)
    with pytest.raises(ba.SetupError, match="lambda"):
        ba.Renderer(scenes("demo"), setup=lambda s, i, r: None, blender=flavour)


def test_crashed_worker_frames_are_rerendered_exactly_once(flavour, scenes, leaves_nothing):
    kw = dict(passes=["rgba", "object_index"], engine="CYCLES", samples=1, resolution=(48, 36),
              setup=randomize, seed=11, blender=flavour)
    with ba.Renderer(scenes("demo"), **kw) as r:
        reference = [f["rgba"].copy() for f in r.frames(10)]
    with ba.Renderer(scenes("demo"), **kw) as r:
        got = []
        for f in r.frames(10):
            got.append((f.meta["index"], f["rgba"].copy()))
            if len(got) == 4:
                for pid in _children():
                    os.kill(pid, signal.SIGKILL)
    assert [i for i, _ in got] == list(range(10))
    for (i, a), b in zip(got, reference):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32)), i


def test_frame_fails_after_retries(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), setup=HOOKS + ":crash_on_two", retries=1,
                     blender=flavour) as r:
        got = []
        with pytest.raises(ba.WorkerError) as e:
            for f in r.frames(5):
                got.append(f.meta["index"])
    assert got == [0, 1]
    msg = str(e.value)
    assert "index 2 failed" in msg and "2 attempt" in msg and "SIGKILL" in msg and "worker 0" in msg


def test_ctrl_c_and_kill_of_consumer_leave_nothing(flavour, scenes, tmp_path):
    code = ("import sys; sys.path.insert(0, %r); import blendarray as ba\n"
            "try:\n"
            "    with ba.Renderer(%r, workers=2, blender=%r, passes=['rgba'], samples=1,"
            " resolution=(32, 24)) as r:\n"
            "        for f in r.frames(100000):\n"
            "            print('frame', f.meta['index'], flush=True)\n"
            "except KeyboardInterrupt:\n    print('interrupted', flush=True); sys.exit(4)\n"
            % (os.path.join(ROOT, "python"), scenes("demo"), flavour))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    for how in ("sigint", "sigkill"):
        p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                             env=env)
        for line in p.stdout:  # wait until frames flow
            if line.startswith("frame 5"):
                break
        p.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
        out, _ = p.communicate(timeout=60)
        deadline = time.time() + 10
        while time.time() < deadline and _blenders_with_tmpdir(str(tmp_path)):
            time.sleep(0.1)
        assert not _blenders_with_tmpdir(str(tmp_path)), f"a worker outlived {how}"
        if how == "sigint":
            assert p.returncode == 4 and "interrupted" in out
        else:  # a killed consumer cannot clean up: the next one removes what it left
            sweep_stale(str(tmp_path))
        assert os.listdir(tmp_path) == []
