"""Fixtures: which Blenders to test with, and the test scenes each builds.

Every test that renders runs once per Blender flavour: Debian's `blender`
binary and the `bpy` module. A flavour that is missing fails the run when
BLENDARRAY_REQUIRE_FLAVOURS=1 (the project's test script sets it), so a
broken install cannot pass as "skipped".
"""
import os

import pytest

from support import FLAVOURS, ROOT, _flavours, run_blender

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
