"""Renderer: warm workers streaming frames through shared memory."""
import os
import signal
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest

import blendarray as ba
from blendarray import _core
from support import PACKAGE_DIR, ROOT, assert_version, blender_kw
from test_bad_input import _blenders_with_tmpdir, _children, kill_started, leaves_nothing  # noqa: F401

HOOKS = os.path.join(ROOT, "tests", "python", "hooks.py")


def randomize(scene, index, rng):
    cube = scene.objects["RedCube"]
    cube.rotation_euler.z = rng.uniform(0, 6.283)
    return {"angle": cube.rotation_euler.z}


def _base(a):
    """The object that owns an array's memory (an ArrayBuf: .slot is its ring slot)."""
    while True:
        nxt = a.obj if isinstance(a, memoryview) else getattr(a, "base", None)
        if nxt is None:
            return a
        a = nxt


@pytest.mark.matrix
def test_stream_in_order_with_setup_hook(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), workers=2, passes=["rgba", "depth", "object_index"],
                     engine="CYCLES", samples=1, resolution=(64, 48), setup=randomize, seed=7,
                     **blender_kw(flavour)) as r:
        got = []
        for f in r.frames(range(1, 9)):
            got.append((f.meta["index"], f.meta["frame"], f.meta["angle"], f.meta["worker"],
                        f["rgba"].copy(), _base(f["rgba"]).slot, dict(f.meta)))
        del f  # no frame outlives the test, should a check below fail
    for g in got:
        assert_version(flavour, g[6])
    assert [g[0] for g in got] == list(range(8))
    assert [g[1] for g in got] == list(range(1, 9))
    for index, _, angle, _, _, _, _ in got:  # the hook's rng is default_rng([seed, index])
        assert abs(angle - np.random.default_rng([7, index]).uniform(0, 6.283)) < 1e-5
    assert {g[3] for g in got} == {0, 1}, "both workers rendered"
    assert sum(g[5] is not None for g in got) >= 4, "frames after the first come in ring slots"
    assert not all(np.array_equal(got[0][4], g[4]) for g in got[1:]), "the hook changed the scene"


def test_same_frames_whatever_the_number_of_workers(flavour, scenes):
    def run(workers):
        with ba.Renderer(scenes("demo"), workers=workers, passes=["rgba"], engine="CYCLES",
                         samples=1, resolution=(48, 36), setup=randomize, seed=3,
                         **blender_kw(flavour)) as r:
            return [f["rgba"].copy() for f in r.frames(6)]
    one, two = run(1), run(2)
    for a, b in zip(one, two):
        assert np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_zero_copy_and_dlpack(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), passes=["rgba", "depth"], engine="CYCLES", samples=1,
                     resolution=(32, 24), **blender_kw(flavour)) as r:
        frames = list(r.frames(3))
        f = frames[-1]
        assert isinstance(_base(f["depth"]), _core.ArrayBuf) and _base(f["depth"]).slot is not None
        d = np.from_dlpack(f["depth"])  # torch.from_dlpack reads the same protocol
        assert np.shares_memory(d, f["depth"])
        assert f["rgba"].flags.c_contiguous and f["rgba"].shape == (24, 32, 4)
        assert np.array_equal(frames[0]["rgba"], f["rgba"])  # same scene, same frame


def move_camera(scene, index, rng):
    """A camera pose, lens and lens shift of the index's own (set absolutely)."""
    cam = scene.camera
    cam.location = (0.3 * index, -0.2 * index, 10.0 + 0.5 * index)
    cam.rotation_euler = (0.05 * index, 0.0, 0.1 * index)
    cam.data.lens = 50.0 + 5.0 * index
    cam.data.shift_x = 0.02 * index
    return {"pose": index}


VOLATILE = {"render_seconds", "capture_seconds", "display_seconds", "annotation_seconds", "worker"}


def test_a_stream_has_the_meta_and_pixels_of_frames_rendered_one_by_one(flavour, scenes):
    """A pipelined stream (two workers, frames queued ahead, a camera that moves
    and per-frame settings that change: frame, resolution, samples) against the
    same indices asked for one request at a time: the same frame.meta, key for
    key (but timings and the worker), and the same pixels. Whatever a worker
    keeps from frame to frame (the reply's meta, views of its slots, the
    settings a frame changed) must not show."""
    params = [{"frame": 1 + 7 * i, "resolution": [32, 24] if i % 3 else [24, 32],
               "samples": 5 if i % 2 else 1} for i in range(8)]
    kw = dict(passes=["rgba", "depth"], engine="WORKBENCH", display=True, setup=move_camera,
              **blender_kw(flavour))
    with ba.Renderer(scenes("demo"), workers=2, **kw) as r:
        stream = [(dict(f.meta), {k: f[k].copy() for k in f}) for f in r.frames(params)]
    with ba.Renderer(scenes("demo"), **kw) as r:
        alone = []
        for i, p in enumerate(params):
            for f in r.frames([p], indices=[i]):
                alone.append((dict(f.meta), {k: f[k].copy() for k in f}))
    assert len(stream) == len(alone) == len(params)
    for i, ((m, a), (m1, a1)) in enumerate(zip(stream, alone)):
        assert {k: v for k, v in m.items() if k not in VOLATILE} == \
            {k: v for k, v in m1.items() if k not in VOLATILE}, i
        assert m["index"] == i and m["pose"] == i and m["frame"] == params[i]["frame"]
        assert m["resolution"] == params[i]["resolution"] and m["samples"] == params[i]["samples"]
        assert a.keys() == a1.keys() == {"rgba", "depth", "display"}
        for k in a:
            assert np.array_equal(a[k], a1[k], equal_nan=True), (i, k)
    assert len({tuple(map(tuple, m["K"])) for m, _ in stream}) == len(params)  # it moved


def test_back_pressure_and_release(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), ring=2, **blender_kw(flavour)) as r:
        kept = []
        with pytest.raises(ba.BlendArrayError, match="ring slot is held"):
            for f in r.frames(10):
                kept.append(f)  # holding every frame: the ring runs out
        assert len(kept) == 3  # the first frame (own memfd, its spare) + 2 ring slots
        first = kept[0]["rgba"].copy()
        kept.clear()
        n = 0
        for f in r.frames(10):  # keeping none: runs through in 2 slots
            n += 1
            f.release()
        assert n == 10
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), ring=1, **blender_kw(flavour)) as r:
        n = 0
        for f in r.frames(6):  # f is held while the next is asked for: spare, slot, spare, ...
            assert np.array_equal(f["rgba"], first)  # a spare frame's memfds hold the same
            n += 1
        assert n == 6


@pytest.mark.matrix
def test_unordered_delivers_each_once(flavour, scenes):
    with ba.Renderer(scenes("demo"), workers=2, passes=["rgba"], engine="WORKBENCH",
                     resolution=(32, 24), **blender_kw(flavour)) as r:
        metas = [dict(f.meta) for f in r.frames(7, ordered=False)]
    for m in metas:
        assert_version(flavour, m)
    seen = [m["index"] for m in metas]
    assert sorted(seen) == list(range(7))


def with_params(scene, index, rng, params):
    return {"tag": params["tag"], "frame_seen": scene.frame_current}


@pytest.mark.matrix
def test_params_dicts_and_single_render(flavour, scenes):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), setup=with_params, **blender_kw(flavour)) as r:
        fs = list(r.frames([{"frame": 5, "tag": "a"}, {"frame": 9, "tag": "b",
                                                        "resolution": (16, 12)}]))
        assert_version(flavour, fs[0])
        assert [f.meta["tag"] for f in fs] == ["a", "b"]
        assert [f.meta["frame_seen"] for f in fs] == [5, 9]
        assert fs[1]["rgba"].shape == (12, 16, 4)
        one = r.render(frame=3, tag="c")
        assert one.meta["frame"] == 3 and one.meta["tag"] == "c"


def test_hook_error_reaches_consumer_and_worker_survives(flavour, scenes, leaves_nothing):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(32, 24), setup=HOOKS + ":fail_on_three",
                     **blender_kw(flavour)) as r:
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
        ba.Renderer(scenes("demo"), setup=HOOKS + ":no_such_function", **blender_kw(flavour))
    with pytest.raises(ba.SetupError, match="lambda"):
        ba.Renderer(scenes("demo"), setup=lambda s, i, r: None, **blender_kw(flavour))


def test_crashed_worker_frames_are_rerendered_exactly_once(flavour, scenes, leaves_nothing):
    kw = dict(passes=["rgba", "object_index"], engine="CYCLES", samples=1, resolution=(48, 36),
              setup=randomize, seed=11, **blender_kw(flavour))
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
                     **blender_kw(flavour)) as r:
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
            % (PACKAGE_DIR, scenes("demo"), flavour))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    try:
        for how in ("sigint", "sigkill"):
            p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True,
                                 env=env)
            for line in p.stdout:  # wait until frames flow
                if line.startswith("frame 5"):
                    break
            assert len(_blenders_with_tmpdir(str(tmp_path))) == 2, "both workers run"
            p.send_signal(signal.SIGINT if how == "sigint" else signal.SIGKILL)
            out, _ = p.communicate(timeout=60)
            deadline = time.time() + 10
            while time.time() < deadline and _blenders_with_tmpdir(str(tmp_path)):
                time.sleep(0.1)
            assert not _blenders_with_tmpdir(str(tmp_path)), f"a worker outlived {how}"
            if how == "sigint":
                assert p.returncode == 4 and "interrupted" in out
                assert os.listdir(tmp_path) == []
            else:  # a killed consumer cannot clean up: the next consumer removes what it left
                assert len(os.listdir(tmp_path)) == 2
                nxt = subprocess.run([sys.executable, "-c", code.replace("100000", "1")],
                                     env=env, capture_output=True, text=True, timeout=120)
                assert nxt.returncode == 0, nxt.stderr
                assert os.listdir(tmp_path) == []
    finally:
        kill_started(str(tmp_path))


def test_ctrl_c_in_a_consumer_that_stays_alive(flavour, scenes, tmp_path):
    """KeyboardInterrupt caught by a consumer that goes on living: its workers must be
    gone at once, stopped by blendarray itself (PR_SET_PDEATHSIG only acts when the
    consumer dies), and its temporary folders removed; then it can render again."""
    code = ("import sys, os, time; sys.path.insert(0, %r); import blendarray as ba\n"
            "def alive(pid):\n"
            "    try:\n"
            "        return open(f'/proc/{pid}/stat').read().rsplit(')', 1)[1].split()[0] != 'Z'\n"
            "    except OSError:\n"
            "        return False\n"
            "r = ba.Renderer(%r, workers=2, blender=%r, passes=['rgba'])\n"
            "pids = r.worker_pids()\n"
            "try:\n"
            "    print('started', flush=True)\n"
            "    for f in r.frames(3):\n"
            "        pass\n"
            "except KeyboardInterrupt:\n"
            "    r.close()\n"
            "    print('alive after close:', [alive(p) for p in pids], flush=True)\n"
            "    print('tmp:', os.listdir(%r), flush=True)\n"
            "    f = ba.render(%r, passes=['rgba'], engine='WORKBENCH', blender=%r)\n"
            "    print('rendered again', f['rgba'].shape, flush=True)\n"
            "    time.sleep(1)\n"
            % (PACKAGE_DIR, scenes("slow"), flavour, str(tmp_path),
               scenes("quadrant"), flavour))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert p.stdout.readline().strip() == "started"
        deadline = time.time() + 30
        while time.time() < deadline and len(_blenders_with_tmpdir(str(tmp_path))) < 2:
            time.sleep(0.1)
        assert len(_blenders_with_tmpdir(str(tmp_path))) == 2, "the workers never started"
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
        assert "alive after close: [False, False]" in out, out
        assert "tmp: []" in out, out
        assert "rendered again (48, 64, 4)" in out, out
        assert p.returncode == 0
    finally:
        p.kill()
        kill_started(str(tmp_path))


def test_close_stops_workers_before_returning(flavour, scenes, leaves_nothing):
    r = ba.Renderer(scenes("demo"), workers=2, passes=["rgba"], engine="WORKBENCH",
                    resolution=(16, 16), **blender_kw(flavour))
    r.render()
    pids = _children()
    assert len(pids) == 2
    r.close()
    assert _children() == [], "close() returned with workers still running"
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), "close() must reap its workers"


def test_new_renderer_sweeps_what_a_killed_consumer_left(flavour, scenes, tmp_path):
    """A temporary folder named for a consumer that no longer exists is removed by the
    next Renderer, with nothing else asking for it; a live consumer's is kept."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    tmp = tempfile.gettempdir()
    stale = os.path.join(tmp, f"blendarray-{dead.pid}-stale")
    live = os.path.join(tmp, f"blendarray-{os.getppid()}-live")
    for d in (stale, live):
        os.makedirs(os.path.join(d, "inner"), exist_ok=True)
    try:
        with ba.Renderer(scenes("quadrant"), passes=["rgba"], engine="WORKBENCH",
                         **blender_kw(flavour)) as r:
            r.render()
        assert not os.path.exists(stale), "the stale folder was not swept"
        assert os.path.exists(live), "a live consumer's folder was removed"
    finally:
        shutil.rmtree(stale, ignore_errors=True)
        shutil.rmtree(live, ignore_errors=True)


def kill_once(scene, index, rng, params):
    """SIGKILLs its own Blender the first time it sees index 2 (a marker file remembers)."""
    marker = os.environ["KILL_ONCE_MARKER"]
    if index == 2 and not os.path.exists(marker):
        open(marker, "w").close()
        os.kill(os.getpid(), signal.SIGKILL)
    return {"tag": params.get("tag"), "frame_seen": scene.frame_current,
            "res": [scene.render.resolution_x, scene.render.resolution_y]}


@pytest.mark.parametrize("what", ["frame numbers", "param dicts"])
def test_retried_frame_keeps_its_params(flavour, scenes, what, tmp_path, monkeypatch):
    """The frame a killed worker had is re-rendered with its own frame number and params."""
    monkeypatch.setenv("KILL_ONCE_MARKER", str(tmp_path / "killed-once"))  # workers inherit it
    if what == "frame numbers":
        jobs, expect = [10, 20, 30, 40], [(10, None), (20, None), (30, None), (40, None)]
    else:
        jobs = [{"frame": 10 * (i + 1), "tag": f"t{i}", "resolution": (16 + i, 12)}
                for i in range(4)]
        expect = [(10 * (i + 1), f"t{i}") for i in range(4)]
    pids = set()
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="WORKBENCH",
                     resolution=(16, 12), setup=kill_once, retries=1, **blender_kw(flavour)) as r:
        got = []
        for f in r.frames(jobs):
            pids.update(_children())
            got.append(((f.meta["frame"], f.meta["tag"]), f.meta["frame_seen"], f.meta["res"],
                        f["rgba"].shape))
    assert os.path.exists(tmp_path / "killed-once"), "the worker was never killed"
    assert len(pids) >= 2, "no worker was restarted"
    assert [g[0] for g in got] == expect
    assert [g[1] for g in got] == [e[0] for e in expect]  # the scene frame the hook saw
    if what == "param dicts":
        assert [g[2] for g in got] == [[16 + i, 12] for i in range(4)]
        assert [g[3] for g in got] == [(12, 16 + i, 4) for i in range(4)]


def sleep_on_two(scene, index, rng):
    if index == 2:
        time.sleep(20)  # long past the timeout below (and short, were the timeout ignored)
    return {}


def test_timeout_while_streaming(flavour, scenes, leaves_nothing):
    """A frame that overruns timeout= stops its worker; with no retries left it fails
    naming the timeout, and the frames before it arrived."""
    t0 = time.time()
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="WORKBENCH", resolution=(16, 12),
                     setup=sleep_on_two, timeout=3, retries=0, **blender_kw(flavour)) as r:
        got = []
        with pytest.raises(ba.WorkerError, match="within 3 s") as e:
            for f in r.frames(5):
                got.append(f.meta["index"])
    assert got == [0, 1] and "index 2" in str(e.value)
    assert time.time() - t0 < 40


def stereo(scene, index, rng):
    scene.render.use_multiview = True


def small_at_half(scene, index, rng):
    scene.render.resolution_x, scene.render.resolution_y = 200, 100
    scene.render.resolution_percentage = 50


def test_stereo_refused_and_percentage_honoured(flavour, scenes):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="WORKBENCH", setup=stereo,
                     **blender_kw(flavour)) as r:
        with pytest.raises(ba.SceneError, match="use_multiview"):
            r.render()
    with ba.Renderer(scenes("default"), passes=["rgba"], engine="WORKBENCH", setup=small_at_half,
                     **blender_kw(flavour)) as r:
        f = r.render()
    assert f["rgba"].shape == (50, 100, 4) and f.meta["resolution"] == [100, 50]
    assert f.meta["K"][0][2] == 50.0 and f.meta["K"][1][2] == 25.0


@pytest.mark.blender
def test_per_frame_seed_and_indices(leaves_nothing):
    """A per-frame "seed" replaces the Renderer's (the hook's rng is
    default_rng([*seed, index])); indices= renders a shard of a stream as the
    whole stream renders it; a bad seed is refused before any frame."""
    import hooks
    kw = dict(passes=["rgba"], resolution=(16, 16), engine="WORKBENCH", blender="bpy",
              setup=hooks.move_sphere, seed=4)

    def x(rng):
        return float(rng.uniform(-2.0, 2.0))
    with ba.Renderer(None, **kw) as r:
        a, b, c = r.frames([{}, {"seed": 9}, {"seed": [4, 2]}])
        assert a.meta["x"] == x(np.random.default_rng([4, 0]))
        assert b.meta["x"] == x(np.random.default_rng([9, 1]))
        assert c.meta["x"] == x(np.random.default_rng([4, 2, 2]))
        whole = [(f.meta["index"], f.meta["x"], f["rgba"].copy()) for f in r.frames(5)]
        shard = [(f.meta["index"], f.meta["x"], f["rgba"].copy())
                 for f in r.frames(2, indices=[3, 1])]
        for (i, v, img), (j, w, img2) in zip(shard, [whole[3], whole[1]]):
            assert i == j and v == w
            np.testing.assert_array_equal(img, img2)
        for bad in (-1, [], [1, -2], "7", 1.5):
            with pytest.raises(ba.BlendArrayError, match='per-frame "seed"'):
                list(r.frames([{"seed": bad}]))
        with pytest.raises(ValueError):
            list(r.frames(3, indices=[0, 1]))  # one index per frame


@pytest.mark.blender
def test_per_frame_settings_apply_to_their_frame_only(leaves_nothing):
    """A frame's own settings do not leak into the next frames of its worker:
    frame i renders the same whatever its worker rendered before."""
    kw = dict(passes=["rgba"], resolution=(16, 12), engine="WORKBENCH", blender="bpy")
    with ba.Renderer(None, **kw) as r:
        (plain,) = [f["rgba"].copy() for f in r.frames(1)]
        start = r.render().meta["frame"]
        got = list(r.frames([{"resolution": (8, 4), "frame": 40, "engine": "CYCLES",
                              "samples": 1}, {}]))
        assert got[0]["rgba"].shape == (4, 8, 4) and got[0].meta["frame"] == 40
        assert got[1]["rgba"].shape == (12, 16, 4) and got[1].meta["frame"] == start
        np.testing.assert_array_equal(got[1]["rgba"], plain)  # Workbench again, as before
