"""The command-line tool, driven as a user would, against real Blenders."""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "python"))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
BIN = os.path.join(ROOT, "build", "blendarray")


@pytest.fixture(scope="session")
def cli():
    if not os.path.exists(BIN):
        subprocess.run(["make", "-C", ROOT, "cli"], check=True, capture_output=True)
    return BIN


@pytest.fixture(scope="session")
def demo_blend(tmp_path_factory):
    """The test scenes, saved by Debian's Blender (the CLI's default Blender)."""
    d = tmp_path_factory.mktemp("cli-scenes")
    subprocess.run(["blender", "-b", "--factory-startup", "--python",
                    os.path.join(ROOT, "tests", "scenes", "make_scenes.py"), "--", str(d)],
                   check=True, capture_output=True)
    return lambda name="demo": str(d / (name + ".blend"))
