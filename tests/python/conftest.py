"""Shared fixtures: which Blenders to test with, and the test scenes each builds.

Every test that renders runs once per Blender flavour: Debian's `blender`
binary and the `bpy` module. A flavour that is missing fails the run when
BLENDARRAY_REQUIRE_FLAVOURS=1 (the project's test script sets it), so a
broken install cannot pass as "skipped".
"""
import importlib.util
import os
import shutil
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
SCRIPTS = os.path.join(ROOT, "tests", "python", "blender_scripts")
ENGINES = ["CYCLES", "EEVEE", "WORKBENCH"]


def _flavours():
    found = []
    if shutil.which("blender"):
        found.append("blender")
    if importlib.util.find_spec("bpy") is not None:
        found.append("bpy")
    return found


FLAVOURS = ["blender", "bpy"]


def blender_cmd(flavour, script, *args):
    """The command that runs `script` (with args) in a Blender of that flavour."""
    if flavour == "blender":
        return ["blender", "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                "--python", script, "--", *args]
    return [sys.executable, script, *args]


def run_blender(flavour, script, *args, timeout=300):
    p = subprocess.run(blender_cmd(flavour, script, *args), capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
    if p.returncode != 0:
        raise AssertionError(f"{script} failed in {flavour} (exit {p.returncode}):\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@pytest.fixture(params=FLAVOURS)
def flavour(request):
    if request.param not in _flavours():
        if os.environ.get("BLENDARRAY_REQUIRE_FLAVOURS") == "1":
            pytest.fail(f"Blender flavour {request.param!r} is not installed")
        pytest.skip(f"Blender flavour {request.param!r} is not installed")
    return request.param


_scene_dirs = {}


@pytest.fixture
def scenes(flavour, tmp_path_factory):
    """Directory of the test scenes, saved by this flavour's Blender (a 3.x Blender
    cannot read files saved by 5.x)."""
    if flavour not in _scene_dirs:
        d = tmp_path_factory.mktemp(f"scenes-{flavour}")
        run_blender(flavour, os.path.join(ROOT, "tests", "scenes", "make_scenes.py"), str(d))
        _scene_dirs[flavour] = str(d)
    return lambda name: os.path.join(_scene_dirs[flavour], name + ".blend")
