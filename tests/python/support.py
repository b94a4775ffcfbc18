"""What the Python tests share: paths, the Blender flavours, running a script in Blender.

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


