"""The command-line tool, driven as a user would, against real Blenders."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from support import BUILD_DIR as DEV  # noqa: E402  (make's build folder, build/dev)
BIN = os.path.join(DEV, "blendarray")
# The build tree's CLI finds its package beside it (build/dev/python/blendarray)
# but no Python: with --blender bpy it runs this one's (an installed CLI takes
# the python3 beside it: tests/python/test_install.py).
os.environ.setdefault("BLENDARRAY_PYTHON", sys.executable)


@pytest.fixture(scope="session")
def cli():
    subprocess.run(["ninja", "-C", DEV], check=True, capture_output=True)
    return BIN


@pytest.fixture(scope="session")
def demo_blend(tmp_path_factory):
    """The test scenes, saved by Debian's Blender (the CLI's default Blender)."""
    d = tmp_path_factory.mktemp("cli-scenes")
    subprocess.run(["blender", "-b", "--factory-startup", "--python",
                    os.path.join(ROOT, "tests", "scenes", "make_scenes.py"), "--", str(d)],
                   check=True, capture_output=True)
    return lambda name="demo": str(d / (name + ".blend"))
