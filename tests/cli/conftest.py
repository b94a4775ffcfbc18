"""The command-line tool, driven as a user would, against real Blenders."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from support import BUILD_DIR as DEV, build_runtime, marks_its_tests, scene_folder  # noqa: E402
BIN = os.path.join(DEV, "blendarray")
# The build tree's CLI finds its package beside it (build/dev/python/blendarray)
# but no Python: with --blender bpy it runs this one's (an installed CLI takes
# the python3 beside it: tests/python/test_install.py).
os.environ.setdefault("BLENDARRAY_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def cli():
    build_runtime(DEV)
    return BIN


@pytest.fixture(scope="session")
@marks_its_tests("blender")
def demo_blend(tmp_path_factory):
    """The test scenes, saved by Debian's Blender (the CLI's default Blender)."""
    d = scene_folder("blender", str(tmp_path_factory.mktemp("cli-scenes")))
    return lambda name="demo": os.path.join(d, name + ".blend")
