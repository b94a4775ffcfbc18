"""Worker recycling (max_worker_frames, max_worker_memory), the renderer's counts
and identity, and a fresh worker rendering as a warm one does (issue 23).

The references are independent of blendarray: Blender's own render of the scene
in a fresh process (tests/python/blender_scripts/reference.py, read with
OpenEXR), the process ids and the resident memory the hook itself reads from
/proc, the colour the hook gives each frame, zlib's crc32 of the scene file.
"""
import importlib.util
import os
import zlib

import numpy as np
import OpenEXR
import pytest

import blendarray as ba
from blendarray._errors import BlendArrayError
from support import (ROOT, SCRIPTS, In, Out, blender_kw, blender_output, expected_version)
from test_bad_input import _blenders_with_tmpdir, _children, kill_started, leaves_nothing  # noqa: F401

HOOKS = os.path.join(ROOT, "tests", "python", "recycle_hooks.py")
MiB = 1 << 20


def subsurf_scene(flavour):
    """The demo with subdivided meshes, Workbench 64x64, saved by this Blender (cached)."""
    made = blender_output(flavour, os.path.join(SCRIPTS, "subsurf_scene.py"), Out("subsurf.blend"))
    return made / "subsurf.blend"


def blender_rgba(flavour, scene):
    """Blender's own render of the scene as it is (a fresh process, its first render)."""
    ref = blender_output(flavour, os.path.join(SCRIPTS, "reference.py"), In(scene), "WORKBENCH",
                         Out("ref.exr"), Out("ref.png"))
    with OpenEXR.File(ref / "ref.exr", separate_channels=True) as f:
        ch = {k: c.pixels for part in f.parts for k, c in part.channels.items()}
    return np.stack([ch[f"ViewLayer.Combined.{c}"] for c in "RGBA"], axis=-1)


def lives(pids):
    """The runs of equal pids, as lengths; each pid must make one run (a worker
    never comes back once replaced)."""
    runs = []
    for i, p in enumerate(pids):
        if i and p == pids[i - 1]:
            runs[-1] += 1
        else:
            runs.append(1)
    assert len(runs) == len(set(pids)), f"a replaced worker came back: {pids}"
    return runs


def test_recycled_and_fresh_workers_render_as_one_never_recycled(flavour, leaves_nothing):
    """On a scene whose first render in a process differs from the later ones
    (Subdivision Surface, Workbench): a worker replaced every 2 frames, and a
    fresh Renderer given indices 3..5 only, render bit for bit what one worker
    never replaced renders; and every frame is Blender's own (its render of
    the scene in a fresh process), whatever the worker rendered before."""
    scene = subsurf_scene(flavour)
    kw = dict(engine="WORKBENCH", passes=["rgba", "depth"], setup=HOOKS + ":move", seed=3,
              **blender_kw(flavour))
    with ba.Renderer(scene, **kw) as r:
        whole = [f.copy() for f in r.frames(6)]
        still = [f.copy() for f in r.frames([{"still": True}], indices=[100])]  # its 7th render
        identity = r.identity()
    with ba.Renderer(scene, max_worker_frames=2, **kw) as r:
        recycled = [f.copy() for f in r.frames(6)]
        stats = r.stats
        assert r.identity() == identity, "how workers are recycled is not what the frames are"
    with ba.Renderer(scene, **kw) as r:
        fresh = [f.copy() for f in r.frames(3, indices=[3, 4, 5])]
    assert len({whole[0].meta["pid"], *(f.meta["pid"] for f in whole)}) == 1
    assert not np.array_equal(whole[0]["rgba"], whole[1]["rgba"]), "the hook moved the cube"
    assert lives([f.meta["pid"] for f in recycled]) == [2, 2, 2]
    assert (stats["recycled"], stats["restarted"], stats["frames"]) == (3, 0, 6)
    for name in ("rgba", "depth"):
        for i in range(6):
            assert np.array_equal(recycled[i][name], whole[i][name]), f"index {i} {name}"
        for i in range(3):
            assert np.array_equal(fresh[i][name], whole[3 + i][name]), f"index {3 + i} {name}"
    assert [f.meta["index"] for f in fresh] == [3, 4, 5]
    assert np.array_equal(still[0]["rgba"], blender_rgba(flavour, scene)), (
        "a worker's 7th render differs from Blender's first render of the scene")
    # the identity: what the frames depend on, against the file itself
    with open(scene, "rb") as f:
        data = f.read()
    assert identity["scene"] == {"path": os.path.realpath(scene), "size": len(data),
                                 "crc32": zlib.crc32(data)}
    assert identity["seed"] == 3
    assert identity["blender"].split()[0] == expected_version(flavour)
    assert identity["settings"]["engine"] == "WORKBENCH"
    assert identity["settings"]["passes"] == ["rgba", "depth"]
    assert identity["setup"]["name"] == "move" and identity["setup"]["kind"] == "file"


def test_worker_over_the_limit_after_its_first_frame(flavour, scenes, leaves_nothing):
    """max_worker_memory=1 byte, a limit given: every worker is over it after its
    first frame, and is replaced all the same, after the frame already sent to
    it: every frame arrives once and in order, no worker renders more than its
    first frame and the one in flight, and the counts say why."""
    with ba.Renderer(scenes("demo"), engine="WORKBENCH", passes=["rgba"], resolution=(32, 24),
                     setup=HOOKS + ":pid", max_worker_memory=1, **blender_kw(flavour)) as r:
        got = [(f.meta["index"], f.meta["pid"]) for f in r.frames(4)]
        stats = r.stats
    assert [g[0] for g in got] == list(range(4))
    runs = lives([g[1] for g in got])
    assert max(runs) == 2, f"a frame in flight when its worker was retired was rendered: {runs}"
    assert stats["over_memory"] == stats["recycled"] == len(runs)
    assert stats["memory_limit"] == 1 and stats["max_memory"] > 50 * MiB


@pytest.mark.slow
@pytest.mark.blender
@pytest.mark.skipif(importlib.util.find_spec("bpy") is None, reason="needs the bpy module")
def test_leaking_hook_stays_under_the_memory_limit(leaves_nothing):
    """A hook that keeps 20 MiB more each frame, 200 frames, a 400 MiB limit: every
    worker's resident memory (VmRSS, read by the hook) stays under it (without
    recycling it would reach 4 GiB), the workers are replaced, and every frame
    arrives exactly once, in order, with its own content. bpy renders: its start
    is the quickest (about 1 s, against 2-3 s for Debian's blender), and Cycles
    at 64x64 has the smallest base memory (about 280 MiB, Workbench 400)."""
    limit = 400 * MiB
    with ba.Renderer(engine="CYCLES", samples=1, resolution=(64, 64), passes=["rgba"],
                     setup=HOOKS + ":leak", max_worker_memory=limit, blender="bpy") as r:
        got = [(f.meta["index"], f.meta["pid"], f.meta["rss"], f["rgba"][0, 0].copy())
               for f in r.frames(200)]
        stats, identity = r.stats, r.identity()
    assert [g[0] for g in got] == list(range(200))
    for index, _, _, rgba in got:  # the ground's colour, set by the hook for this index
        v = (index % 256) / 256
        assert np.allclose(rgba, [v, v, v, 1.0], atol=1e-3), (index, rgba)
    peak = max(g[2] for g in got)
    assert peak < limit, f"a worker reached {peak / MiB:.0f} MiB"
    runs = lives([g[1] for g in got])
    assert len(runs) >= 10, runs
    at = 0
    for n in runs:  # the leak is real: each worker grew by 20 MiB a frame
        rss = [g[2] for g in got[at:at + n]]
        assert all(b - a >= 19 * MiB for a, b in zip(rss, rss[1:])), rss
        at += n
    assert stats["recycled"] >= len(runs) - 1 and stats["restarted"] == 0
    assert stats["frames"] == 200 and stats["max_memory"] < limit
    assert identity["scene"] is None and identity["setup"]["name"] == "leak"


@pytest.mark.parametrize("kw, words", [
    ({"max_worker_frames": -1}, "max_worker_frames must be 0 (no limit) or more, not -1"),
    ({"max_worker_frames": "abc"}, "max_worker_frames must be an integer (or None), not 'abc'"),
    ({"max_worker_frames": 2.5}, "max_worker_frames must be an integer"),
    ({"max_worker_frames": True}, "max_worker_frames must be an integer"),
    ({"max_worker_memory": -2}, "max_worker_memory must be -1 (automatic), 0 (no limit) or more"),
    ({"max_worker_memory": "4G"}, "max_worker_memory must be an integer (or None), not '4G'"),
    ({"max_worker_memory": 1 << 63}, "max_worker_memory must be -1 (automatic), 0"),
])
def test_bad_recycling_values(kw, words):
    """Refused at once, before any Blender starts, saying what is allowed."""
    with pytest.raises(BlendArrayError) as e:
        ba.Renderer(**kw)
    assert words in str(e.value)
    if importlib.util.find_spec("torch") is not None:
        from blendarray.torch import RenderDataset
        with pytest.raises(BlendArrayError) as e:
            RenderDataset(frames=2, **kw)
        assert words in str(e.value)


def test_dataset_passes_recycling_on(monkeypatch):
    """RenderDataset hands the recycling arguments to the Renderer it makes."""
    pytest.importorskip("torch")
    import blendarray._renderer
    from blendarray.torch import RenderDataset
    seen = {}

    class Recorder:
        def __init__(self, scene=None, **kw):
            seen.update(kw)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def frames(self, what, indices=None):
            return iter(())

    monkeypatch.setattr(blendarray._renderer, "Renderer", Recorder)
    list(RenderDataset(frames=2, max_worker_frames=5, max_worker_memory=0))
    assert seen["max_worker_frames"] == 5 and seen["max_worker_memory"] == 0
    list(RenderDataset(frames=2))
    assert seen["max_worker_frames"] is None and seen["max_worker_memory"] is None
