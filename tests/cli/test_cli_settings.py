"""blendarray render's options: one table, every setting of the Python API (the
same JSON, checked by the same code in the worker), and what a new user meets
first: the usage line, typos, progress lines, output paths."""
import dataclasses
import json
import os
import re
import subprocess

import numpy as np
import pytest

import blendarray as ba

SMALL = ["-p", "rgba,depth", "-s", "1", "--size", "32x24"]


def run(cli, *args, **kw):
    return subprocess.run([cli, *args], capture_output=True, text=True, timeout=600, **kw)


# The Settings field each option sets: the Python API's name -> the command's.
OPTION_OF = {"passes": "--passes", "engine": "--engine", "samples": "--samples",
             "resolution": "--size", "display": "--display", "denoise": "--denoise",
             "threads": "--threads", "depth_background": "--depth-background",
             "annotations": "--annotations"}


def test_every_setting_has_an_option(cli):
    """A setting added to blendarray.Settings without its option fails here."""
    names = [f.name for f in dataclasses.fields(ba.Settings)]
    assert sorted(names) == sorted(OPTION_OF), "a setting without a command-line option"
    helptext = run(cli, "render", "--help").stdout
    for name in names:
        assert re.search(rf"^\s+(-\w, )?{OPTION_OF[name]}\b", helptext, re.M), name


def test_usage_line_says_coco_alone_works(cli):
    first = run(cli, "render", "--help").stdout.splitlines()[:2]
    assert first[0] == "usage: blendarray render [SCENE.blend] [options] -o OUTPUT"
    assert first[1].split() == ["blendarray", "render", "[SCENE.blend]", "[options]", "--coco",
                                "DIR", "[-o", "OUTPUT]"]


@pytest.mark.parametrize("arg,want", [
    (["--outpt", "x.npz"], "unknown option --outpt; did you mean --output?"),
    (["--sampels=4", "-o", "x.npz"], "unknown option --sampels=4; did you mean --samples?"),
    (["--frobnicate", "-o", "x.npz"], "unknown option --frobnicate (see"),
    (["-o"], "option -o wants a value"),
    (["-o", "x.npz", "--shards"], "option --shards wants a value"),
    (["-o", "x.npz", "--coco"], "--coco wants a folder (--coco DIR), or goes with --shards DIR"),
    (["-o", "x.npz", "--display=exact"], "--display wants nothing, or 'blender'"),
    (["-o", "x.npz", "--depth-background", "far"], "--depth-background wants a number, inf or nan, not 'far'"),
    (["-o", "x.npz", "--threads", "0"], "--threads wants an integer 1..1024, not '0'"),
    (["-o", "x.npz", "--seed", "-1"], "--seed wants an integer >= 0, not '-1'"),
])
def test_usage_errors(cli, tmp_path, arg, want):
    p = run(cli, "render", *arg, cwd=tmp_path)
    assert p.returncode == 2 and p.stderr.startswith("blendarray: ") and want in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.blender
def test_engine_typo_gets_the_python_apis_suggestion(cli, tmp_path):
    """The worker checks the settings with blendarray.Settings: the command's
    message is the Python API's, "did you mean" included."""
    p = run(cli, "render", "-e", "cycels", *SMALL, "-o", str(tmp_path / "x.npz"))
    with pytest.raises(ba.SceneError) as e:
        ba.Settings(engine="cycels")
    assert p.returncode == 1 and str(e.value) in p.stderr and "did you mean" in p.stderr, p.stderr
    assert os.listdir(tmp_path) == []


@pytest.mark.blender
def test_settings_the_cli_lacked(cli, demo_blend, tmp_path):
    """--depth-background and --display blender: what depth_background= and
    display="blender" give in Python."""
    out, scene = tmp_path / "o.npz", demo_blend("default")  # the cube: background around it
    p = run(cli, "render", scene, *SMALL, "-e", "cycles", "--depth-background", "inf",
            "--display", "blender", "-q", "-o", str(out))
    assert p.returncode == 0, p.stderr
    with ba.Renderer(scene, passes=["rgba", "depth"], samples=1, resolution=(32, 24),
                     engine="CYCLES", depth_background=float("inf"), display="blender",
                     blender="blender") as r:
        want = r.render().copy()
    with np.load(out) as z:
        meta = json.loads(z["meta.json"])[0]
        depth, display = z["depth"][0], z["display"][0]
    assert meta["display_route"] == want.meta["display_route"] == "blender"
    assert np.isposinf(depth).any() and not (depth == 1e10).any()  # Cycles' 1e10 replaced
    assert np.array_equal(depth, want["depth"]) and np.array_equal(display, want["display"])
    # and without the option, Cycles' own marker stays
    p = run(cli, "render", scene, *SMALL, "-e", "cycles", "-q", "-o", str(tmp_path / "m.npz"))
    assert p.returncode == 0 and (np.load(tmp_path / "m.npz")["depth"] == 1e10).any()


@pytest.mark.blender
def test_count_progress_lines_tell_renders_apart(cli, demo_blend, tmp_path):
    """-n 3 renders the scene frame three times: each line names its index."""
    p = run(cli, "render", demo_blend(), "-n", "3", "-p", "rgba", "-e", "workbench",
            "--size", "32x24", "-o", str(tmp_path / "o.npz"))
    lines = p.stderr.splitlines()
    assert p.returncode == 0 and [l.split(":")[0] for l in lines] == [
        "index 0, frame 1 (1/3)", "index 1, frame 1 (2/3)", "index 2, frame 1 (3/3)"], lines


@pytest.mark.blender
def test_folder_paths_have_one_slash(cli, demo_blend, tmp_path):
    d = f"{tmp_path}/frames/"
    args = [demo_blend(), "-f", "1", "-p", "rgba", "-e", "workbench", "--size", "32x24", "-q"]
    assert run(cli, "render", *args, "-o", d).returncode == 0
    p = run(cli, "render", *args, "-o", d)  # again: the file exists
    assert p.returncode == 1 and f"{tmp_path}/frames/meta_0001.json: " in p.stderr, p.stderr
    assert "//" not in p.stderr
