"""blendarray.Settings: one definition of the render settings, taken the same way by
every entry point (keywords or settings=), checked on both sides of each limit,
sent to the worker as docs/protocol.md's "settings" object, and checked again by
the worker itself, with the same messages, for a client that skipped Python.

Most tests need no Blender; the worker's tests run Debian's Blender (marked)."""
import ast
import inspect
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import blendarray as ba
from blendarray import Settings
from blendarray._settings import frame_params
from support import PACKAGE_DIR, ROOT

# docs/protocol.md's "settings" object: every name and its default, as the spec says
PROTOCOL_DEFAULTS = {"engine": None, "samples": None, "resolution": None, "denoise": None,
                     "threads": None, "passes": None, "display": False, "annotations": False,
                     "depth_background": None}


def _entry_points():
    from blendarray.torch import RenderDataset
    from blendarray.ray import read_renders
    return {"render": ba.render, "Renderer": ba.Renderer, "RenderDataset": RenderDataset,
            "read_renders": read_renders}


# -- each field's check, on both sides of its limits -----------------------------------

def test_resolution_limits():
    assert Settings(resolution=(1, 1)).resolution == (1, 1)
    assert Settings(resolution=[65536, 4]).resolution == (65536, 4)
    assert Settings(resolution=(np.int64(640), 480)).resolution == (640, 480)
    for bad in [(0, 1), (1, 0), (65537, 4), (-5, 10)]:
        with pytest.raises(ba.SceneError, match=r"out of range: each side must be 1\.\.65536"):
            Settings(resolution=bad)
    for bad in [(10.5, 10), ("wide", 10), (10,), (1, 2, 3), 640]:
        with pytest.raises(ba.SceneError, match=r"resolution must be a pair of integers"):
            Settings(resolution=bad)
    # at most 2**28 pixels: 16384 x 16384 is the largest square
    assert Settings(resolution=(16384, 16384)).resolution == (16384, 16384)
    with pytest.raises(ba.SceneError, match=r"has 268451840 pixels, more than 268435456"):
        Settings(resolution=(16384, 16385))


@pytest.mark.parametrize("size, gib", [((20000, 20000), "5.96"), ((16384, 16385), "4.00"),
                                       ((32768, 16384), "8.00"), ((65536, 6000), "5.86")])
def test_the_size_error_gives_the_size(size, gib):
    """400 Mpx x 16 bytes is 5.96 GiB: not rounded down to 5 (nor 4.0002 to 5)."""
    with pytest.raises(ba.SceneError) as e:
        Settings(resolution=size)
    assert f"would take {gib} GiB)" in str(e.value), str(e.value)


def test_samples_and_threads_limits():
    assert Settings(samples=1).samples == 1 and Settings(samples=np.int32(64)).samples == 64
    assert type(Settings(samples=np.int32(64)).samples) is int  # JSON-able
    for bad in [0, -3, True, 8.0, "8"]:
        with pytest.raises(ba.SceneError, match=r"samples must be an integer >= 1"):
            Settings(samples=bad)
    assert Settings(threads=1).threads == 1 and Settings(threads=1024).threads == 1024
    for bad in [0, 1025, 2.0, "4"]:
        with pytest.raises(ba.SceneError, match=r"threads must be an integer from 1 to 1024"):
            Settings(threads=bad)


def test_engine_names_and_typos():
    assert Settings(engine="cycles").engine == "CYCLES"
    assert Settings(engine="Eevee").engine == "EEVEE"
    assert Settings(engine="BLENDER_EEVEE_NEXT").engine == "BLENDER_EEVEE_NEXT"
    with pytest.raises(ba.SceneError, match=r"unknown engine 'cycels' \(did you mean 'CYCLES'\?\); "
                                            r"use CYCLES, EEVEE or WORKBENCH"):
        Settings(engine="cycels")
    with pytest.raises(ba.SceneError) as e:
        Settings(engine="LUXCORE")
    assert str(e.value) == "unknown engine 'LUXCORE'; use CYCLES, EEVEE or WORKBENCH"
    with pytest.raises(ba.SceneError, match="unknown engine 3"):
        Settings(engine=3)


def test_yes_no_settings():
    for ok, want in [(True, True), (False, False), (1, True), (0, False), (np.bool_(True), True)]:
        assert Settings(denoise=ok).denoise is want
        assert Settings(annotations=ok).annotations is want
        assert Settings(display=ok).display is want
    assert Settings(denoise=None).denoise is None  # the scene's
    assert Settings(annotations=None).annotations is False
    assert Settings(display="blender").display == "blender"
    for bad in ["off", 2, 0.5]:
        with pytest.raises(ba.SceneError, match=r"denoise must be True, False or None"):
            Settings(denoise=bad)
        with pytest.raises(ba.BlendArrayError, match=r"annotations must be True or False"):
            Settings(annotations=bad)
    for bad in ["Blender", "yes", 2]:
        with pytest.raises(ba.BlendArrayError, match=r"display must be True, False or 'blender'"):
            Settings(display=bad)


def test_passes_and_depth_background():
    assert Settings(passes="rgba, depth,").passes == ("rgba", "depth")
    assert Settings(passes=["rgba"]).passes == ("rgba",)
    for bad in [["rgba", ""], ["rgba", 3]]:
        with pytest.raises(ba.PassError, match="pass names are non-empty strings"):
            Settings(passes=bad)
    with pytest.raises(ba.PassError, match="passes must be a list of pass names"):
        Settings(passes=5)
    assert math.isinf(Settings(depth_background=float("inf")).depth_background)
    assert math.isnan(Settings(depth_background="nan").depth_background)
    assert Settings(depth_background=0).depth_background == 0.0
    with pytest.raises(ba.BlendArrayError, match="depth_background must be a number"):
        Settings(depth_background="deep")


# -- the JSON the worker reads ------------------------------------------------------------

def test_to_json_is_the_protocol_settings_object():
    assert json.loads(Settings().to_json()) == PROTOCOL_DEFAULTS
    s = Settings(passes=["rgba", "depth"], engine="workbench", samples=8, resolution=(64, 48),
                 display="blender", denoise=False, threads=2, depth_background=float("-inf"),
                 annotations=True)
    assert json.loads(s.to_json()) == {
        "engine": "WORKBENCH", "samples": 8, "resolution": [64, 48], "denoise": False,
        "threads": 2, "passes": ["rgba", "depth"], "display": "blender", "annotations": True,
        "depth_background": "-inf"}  # JSON has no infinities: repr of the float
    assert Settings.from_json(s.to_json()) == s
    assert Settings.from_json(json.loads(s.to_json())) == s


def test_from_json_as_a_client_writes_it():
    """What a C client may send: some names only, a number for depth_background."""
    s = Settings.from_json('{"resolution": [32, 24], "depth_background": -1}')
    assert s.resolution == (32, 24) and s.depth_background == -1.0 and s.samples is None
    assert Settings.from_json("{}") == Settings()
    with pytest.raises(ba.BlendArrayError) as e:
        Settings.from_json('{"sample": 4}')
    assert str(e.value).startswith("unknown setting 'sample' (did you mean 'samples'?); "
                                   "the settings are ")
    with pytest.raises(ba.BlendArrayError, match="must be a JSON object"):
        Settings.from_json("[1, 2]")
    with pytest.raises(ba.BlendArrayError, match="not valid JSON"):
        Settings.from_json("{resolution: 3}")
    with pytest.raises(ba.SceneError, match=r"resolution 0x5 is out of range"):
        Settings.from_json('{"resolution": [0, 5]}')


def test_frame_params_use_the_same_checks():
    p = frame_params({"frame": 3, "resolution": (np.int64(4), 3), "samples": np.int64(2),
                      "engine": "eevee", "denoise": 0, "threads": None, "mine": (1, 2)})
    assert p == {"frame": 3, "resolution": [4, 3], "samples": 2, "engine": "EEVEE",
                 "denoise": False, "threads": None, "mine": (1, 2)}
    assert type(p["samples"]) is int
    with pytest.raises(ba.SceneError, match=r"samples must be an integer >= 1"):
        frame_params({"samples": 0})
    with pytest.raises(ba.SceneError, match=r"threads must be an integer from 1 to 1024"):
        frame_params({"threads": 1025})
    with pytest.raises(ba.SceneError, match=r"did you mean 'WORKBENCH'"):
        frame_params({"engine": "workbnch"})


def test_renderer_checks_each_frames_settings(monkeypatch, tmp_path):
    """Renderer.frames' dicts: a bad setting stops the stream at that frame, and the
    Renderer goes on (a fake worker, tests/python/rogue_worker.py, stands in for Blender)."""
    from blendarray import _core
    monkeypatch.setenv("ROGUE", "good")
    monkeypatch.setenv("ROGUE_PYTHONPATH", os.path.dirname(os.path.dirname(_core.__file__)))
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    rogue = os.path.join(ROOT, "tests", "python", "rogue_worker.py")
    with ba.Renderer(blender=rogue) as r:
        got = []
        with pytest.raises(ba.SceneError, match=r"resolution 0x5 is out of range"):
            for f in r.frames([{"frame": 1, "resolution": (8, 6), "samples": np.int64(2)},
                               {"frame": 2, "resolution": (0, 5)}, {"frame": 3}]):
                got.append(f.meta["frame"])
        assert got in ([], [1])  # frame 1 may be in flight when frame 2 is checked: not 3
        assert r.render(frame=4, engine="eevee")["rgba"].shape == (4, 4, 4)


# -- the entry points: one way to take them ---------------------------------------------------

@pytest.mark.parametrize("name", ["render", "Renderer", "RenderDataset", "read_renders"])
def test_every_entry_point_shows_every_setting(name):
    f = _entry_points()[name]
    params = inspect.signature(f).parameters
    for setting, default in PROTOCOL_DEFAULTS.items():
        p = params[setting]
        assert p.kind is inspect.Parameter.KEYWORD_ONLY and p.default == default, (setting, p)
    assert params["settings"].default is None
    assert "blendarray.Settings" in f.__doc__ and "help(blendarray.Settings)" in f.__doc__


@pytest.mark.parametrize("name", ["render", "Renderer", "RenderDataset", "read_renders"])
def test_a_misspelt_keyword_names_the_right_one(name):
    f = _entry_points()[name]
    with pytest.raises(TypeError) as e:
        f(None, sample=4)
    assert str(e.value) == (f"{name}() got an unexpected keyword argument 'sample' "
                            f"(did you mean 'samples'?)")
    with pytest.raises(TypeError, match=r"'blendr' \(did you mean 'blender'\?\)"):
        f(None, blendr="bpy")  # the entry point's own parameters too
    with pytest.raises(ba.SceneError, match="resolution 0x5 is out of range"):
        f(None, resolution=(0, 5))  # checked before anything starts
    with pytest.raises(ba.SceneError, match="resolution 0x5 is out of range"):
        f(None, settings=Settings(samples=4), resolution=(0, 5))
    with pytest.raises(TypeError, match="settings must be a blendarray.Settings"):
        f(None, settings="samples=4")


@pytest.mark.parametrize("name", ["RenderDataset", "read_renders"])
def test_datasets_check_each_frames_settings_at_once(name):
    """A dataset's per-frame dicts: a bad setting fails the call, not a worker later."""
    f = _entry_points()[name]
    with pytest.raises(ba.SceneError, match=r"samples must be an integer >= 1 .*, got 0"):
        f(None, frames=[{"frame": 1}, {"frame": 2, "samples": 0}])
    with pytest.raises(ba.SceneError, match=r"did you mean 'EEVEE'"):
        f(None, frames=[{"engine": "eeve"}])


def test_keywords_replace_the_objects_fields():
    base = Settings(samples=4, passes=["rgba"])
    assert Settings.of(base, samples=8) == Settings(samples=8, passes=["rgba"])
    assert Settings.of(base) is base
    assert Settings.of({"samples": 2}, engine="cycles") == Settings(samples=2, engine="CYCLES")
    assert Settings.of(None) == Settings()
    with pytest.raises(Exception):
        base.samples = 3  # frozen: a changed copy is Settings.of(base, ...)


def test_settings_load_without_numpy_in_python_3_10():
    """Blender's embedded Python: 3.10 for Debian's 3.4 on older systems, and no NumPy
    needed to import the settings (the worker reads them before anything else)."""
    source = os.path.join(PACKAGE_DIR, "blendarray", "_settings.py")
    with open(source) as f:
        ast.parse(f.read(), source, feature_version=(3, 10))  # what the parser can tell
    py = _python_3_10()
    if py is None:
        pytest.skip("no Python 3.10 here to import it with")
    code = ("import sys; sys.modules['numpy'] = None; sys.path.insert(0, %r)\n"
            "from blendarray._settings import Settings\n"
            "print(Settings.from_json('{\"resolution\": [3, 4]}').to_json())\n"
            "assert 'blendarray._core' not in sys.modules\n" % PACKAGE_DIR)
    p = subprocess.run([py, "-c", code], capture_output=True, text=True,
                       env={"PATH": os.environ["PATH"]})
    assert p.returncode == 0, p.stderr
    assert json.loads(p.stdout)["resolution"] == [3, 4]


def _python_3_10():
    import glob
    for py in [shutil.which("python3.10"), "/usr/bin/python3.10",
               *sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.10.*/bin/python")))]:
        if py and os.access(py, os.X_OK) and subprocess.run([py, "-c", "import sys; assert sys.version_info[:2] == (3, 10)"],
                                 capture_output=True).returncode == 0:
            return py
    return None


# -- the worker checks what any client sends, with the same messages -------------------------

def _core_renderer(settings_json):
    """libblendarray's renderer through the extension, as a C client would drive it:
    the settings JSON goes to the worker untouched by Python's checks."""
    from blendarray import _core
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("no Debian blender on PATH")
    return _core.Renderer(blender=blender, python=None,
                          package_dir=os.path.dirname(os.path.abspath(_core.__file__)),
                          scene=None, settings=settings_json, setup=None, seed=0, workers=1,
                          ring=1, retries=0, timeout=120.0, verbose=False)


def _first_frame(settings_json, params=None):
    c = _core_renderer(settings_json)
    try:
        c.submit(0, json.dumps(dict({"frame": 1}, **(params or {}))))
        return c.next(True)
    finally:
        c.close()


@pytest.mark.blender
@pytest.mark.parametrize("sent, python_kw", [
    ('{"resolution": [0, 5]}', dict(resolution=(0, 5))),
    ('{"resolution": [20000, 20000]}', dict(resolution=(20000, 20000))),
    ('{"engine": "cycels"}', dict(engine="cycels")),
    ('{"samples": 0}', dict(samples=0)),
    ('{"display": "Blender"}', dict(display="Blender")),
    ('{"passes": ["rgba", ""]}', dict(passes=["rgba", ""])),
])
def test_worker_refuses_what_python_refuses(sent, python_kw):
    with pytest.raises(ba.BlendArrayError) as py:
        Settings(**python_kw)
    with pytest.raises(ba.BlendArrayError) as worker:
        _first_frame(sent)
    assert type(worker.value) is type(py.value), (worker.value, py.value)
    assert str(worker.value) == str(py.value)


@pytest.mark.blender
@pytest.mark.parametrize("params", [{"samples": 0}, {"engine": "cycels"}, {"resolution": [0, 5]},
                                    {"threads": 0}, {"denoise": "yes"}, {"samples": 2.5}])
def test_worker_refuses_per_frame_params_as_python_does(params):
    """A frame's own params sent untouched (the CLI's --params, a C program's
    submit): the worker's error is frame_params' (Renderer.frames'), type and words,
    after the frame's index that the library puts before a frame's error."""
    with pytest.raises(ba.BlendArrayError) as py:
        frame_params(dict(params))
    with pytest.raises(ba.BlendArrayError) as worker:
        _first_frame("{}", params)
    assert type(worker.value) is type(py.value), (worker.value, py.value)
    assert str(worker.value) == f"index 0: {py.value}"


@pytest.mark.blender
def test_worker_names_an_unknown_setting():
    with pytest.raises(ba.BlendArrayError) as e:
        _first_frame('{"sample": 1}')
    assert type(e.value) is ba.BlendArrayError
    assert str(e.value).startswith("unknown setting 'sample' (did you mean 'samples'?)")


@pytest.mark.blender
def test_worker_applies_what_a_client_sends():
    """A client's own JSON (names left out, a number for depth_background) renders
    as asked: the size, the engine, the one pass."""
    meta, arrays = _first_frame('{"resolution": [40, 30], "engine": "workbench", "samples": 1, '
                                '"passes": ["depth"], "depth_background": -1}')
    (name, buf, dtype, shape), = arrays
    depth = np.frombuffer(buf, dtype).reshape(shape)
    meta = json.loads(meta)
    assert name == "depth" and depth.shape == (30, 40)
    assert meta["resolution"] == [40, 30] and "WORKBENCH" in meta["engine"]
    # the demo's camera looks straight down from z = 10 at its floor (z = 0) and objects
    assert 9.9 < depth.max() < 10.1 and 5 < depth.min() < 10
