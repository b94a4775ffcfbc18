"""What the Python tests share: paths, the Blender flavours, running a script in Blender.

Every test that renders runs once per Blender flavour of the full suite
(FLAVOURS): Debian's `blender` binary and the `bpy` module of this Python.
Tests marked `matrix` (the fidelity and streaming tests) also run on the extra
bpy versions of scripts/blenders.txt (EXTRA_FLAVOURS: "bpy-4.2", ...), each a
virtual environment that scripts/install-blenders.sh makes in BLENDERS_DIR;
blendarray renders there with `blender="bpy", python=<that venv's python>`.

A flavour that is missing fails the run when BLENDARRAY_REQUIRE_FLAVOURS=1 (the
project's test script sets it), so a broken install cannot pass as "skipped";
the one exception is an extra flavour whose Python version (bpy 5.2 needs 3.13)
does not exist on the machine: it is skipped, loudly (see conftest.py).
"""
import functools
import glob
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import blender_cache
from blender_cache import In, Out  # noqa: F401  (for the tests: blender_output's arguments)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The meson build folder of the .venv's editable install (scripts/install.sh).
BUILD_DIR = os.path.abspath(os.environ.get("BLENDARRAY_BUILD", os.path.join(ROOT, "build", "dev")))
# Where the blendarray package is, complete (the sources, the generated _version.py, the
# extension, libblendarray.so): importable by the tests, and on PYTHONPATH for the scripts
# that run inside Blender (scenes, references). The one place it is named.
PACKAGE_DIR = os.path.join(BUILD_DIR, "python")
sys.path.insert(0, PACKAGE_DIR)
# The environment that switches off the .venv's editable install of this checkout
# (meson-python's loader skips the build folders MESONPY_EDITABLE_SKIP names), for a
# Python that must import another copy of the package.
EDITABLE_OFF = {"MESONPY_EDITABLE_SKIP": BUILD_DIR}
SCRIPTS = os.path.join(ROOT, "tests", "python", "blender_scripts")
ENGINES = ["CYCLES", "EEVEE", "WORKBENCH"]

# The extra bpy versions: pinned in this table (read by scripts/install-blenders.sh
# too), installed in BLENDERS_DIR/bpy-<version>/ (the same default as the script).
BLENDERS_TABLE = os.path.join(ROOT, "scripts", "blenders.txt")
BLENDERS_DIR = (os.environ.get("BLENDARRAY_BLENDERS")
                or os.path.join(os.path.expanduser("~"), ".cache", "blendarray", "blenders"))
_MARKER = ".blendarray-complete"  # written by install-blenders.sh once a venv is complete


@dataclass(frozen=True)
class Extra:
    """An extra flavour: a bpy version in its own venv, for one Python minor version."""
    name: str
    bpy: str
    python_minor: str

    @property
    def venv(self):
        return os.path.join(BLENDERS_DIR, f"bpy-{self.bpy}")

    @property
    def python(self):
        return os.path.join(self.venv, "bin", "python")

    def installed(self):
        """The venv is there, complete, for this bpy and this Python minor version."""
        try:
            with open(os.path.join(self.venv, _MARKER)) as f:
                lines = set(f.read().split())
        except OSError:
            return False
        return ({f"bpy={self.bpy}", f"python_minor={self.python_minor}"} <= lines
                and os.access(self.python, os.X_OK))


def _read_table(path=BLENDERS_TABLE):
    out = {}
    with open(path) as f:
        for line in f:
            fields = line.split("#", 1)[0].split()
            if fields:
                name, bpy, minor = fields[:3]
                out[name] = Extra(name, bpy, minor)
    return out


FLAVOURS = ["blender", "bpy"]  # the full suite runs on these
EXTRA_FLAVOURS = _read_table()  # name -> Extra; the `matrix` tests run on these too
MATRIX_FLAVOURS = FLAVOURS + list(EXTRA_FLAVOURS)


def _flavours():
    """The flavours installed here."""
    found = []
    if shutil.which("blender"):
        found.append("blender")
    if importlib.util.find_spec("bpy") is not None:
        found.append("bpy")
    found += [n for n, e in EXTRA_FLAVOURS.items() if e.installed()]
    return found


@functools.lru_cache(maxsize=None)
def find_python(minor):
    """A Python `minor` (e.g. "3.13") with its venv module, where install-blenders.sh
    looks: $BLENDARRAY_PYTHON313, python3.13 on PATH, pyenv's; its path, or None."""
    candidates = [os.environ.get("BLENDARRAY_PYTHON" + minor.replace(".", "")), f"python{minor}"]
    root = os.environ.get("PYENV_ROOT") or os.path.join(os.path.expanduser("~"), ".pyenv")
    candidates += sorted(glob.glob(os.path.join(root, "versions", minor + ".*", "bin", "python")))
    for c in filter(None, candidates):
        exe = shutil.which(c)
        if exe is None:
            continue
        try:  # a pyenv shim for a version that is not selected exits non-zero
            p = subprocess.run([exe, "-c", "import sys, venv; print('%d.%d' % sys.version_info[:2])"],
                               capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        if p.returncode == 0 and p.stdout.strip() == minor:
            return exe
    return None


def python_exists(minor):
    return find_python(minor) is not None


def user_env(**extra):
    """This environment as a user's would be: nothing of blendarray's (BLENDARRAY_*),
    no switch of the editable install (MESONPY_*), no PYTHONPATH or active venv;
    then `extra`."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BLENDARRAY_", "MESONPY_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(extra)
    return env


def blender_kw(flavour):
    """How a test asks blendarray for this flavour: **blender_kw(flavour) to
    render()/Renderer()."""
    if flavour in EXTRA_FLAVOURS:
        return {"blender": "bpy", "python": EXTRA_FLAVOURS[flavour].python}
    return {"blender": flavour}


@functools.lru_cache(maxsize=None)
def expected_version(flavour):
    """The Blender version this flavour must report (bpy.app.version_string's
    first word): the pinned one for an extra flavour, what is installed otherwise."""
    if flavour in EXTRA_FLAVOURS:
        return EXTRA_FLAVOURS[flavour].bpy
    if flavour == "bpy":
        import importlib.metadata
        return importlib.metadata.version("bpy")
    out = subprocess.run(["blender", "--version"], capture_output=True, text=True,
                         timeout=60).stdout
    return out.split("\n", 1)[0].split()[1]  # "Blender 3.4.1"


def assert_version(flavour, frame):
    """The frame (or its meta) was rendered by this flavour's Blender: a misconfigured
    flavour must not test another Blender under its name."""
    got = (frame if isinstance(frame, dict) else frame.meta)["blender_version"]
    assert got.split()[0] == expected_version(flavour), (
        f"flavour {flavour!r} must render with Blender {expected_version(flavour)}, "
        f"but Blender {got!r} rendered")


def blender_cmd(flavour, script, *args):
    """The command that runs `script` (with args) in a Blender of that flavour."""
    if flavour == "blender":
        return ["blender", "-b", "--factory-startup", "-noaudio", "--python-exit-code", "1",
                "--python", script, "--", *args]
    if flavour in EXTRA_FLAVOURS:
        return [EXTRA_FLAVOURS[flavour].python, script, *args]
    return [sys.executable, script, *args]


def run_blender(flavour, script, *args, timeout=300):
    p = subprocess.run(blender_cmd(flavour, script, *args), capture_output=True, text=True,
                       timeout=timeout, env=dict(os.environ, PYTHONPATH=PACKAGE_DIR))
    if p.returncode != 0:
        raise AssertionError(f"{script} failed in {flavour} (exit {p.returncode}):\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p


@functools.lru_cache(maxsize=None)
def runtime_targets(build=BUILD_DIR):
    """The outputs of a meson build folder but the C tests and fuzz replayers, relative
    to it: the library, the CLI, the Python package and the fault injector the CLI's
    fault tests preload (tests/c/slow_first_send.so). What the Python and CLI tests
    need built; the mutation check builds only these for each mutant."""
    meson = os.path.join(os.path.dirname(sys.executable), "meson")
    p = subprocess.run([meson if os.path.exists(meson) else "meson", "introspect", "--targets", build],
                       capture_output=True, text=True, check=True)
    out = []
    for t in json.loads(p.stdout):
        tests = t["defined_in"].endswith((os.path.join("tests", "c", "meson.build"),
                                          os.path.join(os.sep, "fuzz", "meson.build")))
        if t.get("build_by_default") and (not tests or t["name"] == "slow_first_send"):
            out += [os.path.relpath(f, build) for f in t["filename"]]
    return tuple(out)


def build_runtime(build=BUILD_DIR):
    """Bring what the tests run (runtime_targets) up to date; one ninja at a time in
    the folder (pytest-xdist runs test files in two processes)."""
    import fcntl
    with open(os.path.join(build, ".tests-build.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run(["ninja", "-C", build, *runtime_targets(build)], check=True, capture_output=True)


def marks_its_tests(*marks):
    """Put under @pytest.fixture: every test that uses the fixture gets these marks
    ("blender", "slow": tests/conftest.py)."""
    def put(f):
        f.test_marks = marks
        return f
    return put


def blender_identity(flavour):
    """This flavour's Blender, exactly: its version and its binary's (or bpy module's)
    path, size and time."""
    return blender_cache.blender_identity(flavour, EXTRA_FLAVOURS, expected_version(flavour))


def blender_output(flavour, script, *args, timeout=600):
    """run_blender, cached (tests/python/blender_cache.py): the folder of what
    `script` wrote, made by this flavour's Blender unless an entry for the same
    Blender, script, arguments, input files (In) and checkout files used is kept.
    Output files are given as Out("name") and found as `result / "name"`."""
    return blender_cache.blender_output(
        lambda *a: blender_cmd(flavour, *a), blender_identity(flavour), script, args,
        roots=[PACKAGE_DIR, ROOT], env=dict(os.environ, PYTHONPATH=PACKAGE_DIR), timeout=timeout)


MAKE_SCENES = os.path.join(ROOT, "tests", "scenes", "make_scenes.py")


def scene_folder(flavour, dest):
    """The test scenes, saved by this flavour's Blender (cached), copied into `dest`
    (a test may write beside them; the cache's copies stay as they were)."""
    made = blender_output(flavour, MAKE_SCENES, Out("."))
    os.makedirs(dest, exist_ok=True)
    for f in glob.glob(os.path.join(made.path, "*.blend")):
        shutil.copy(f, dest)
    return dest


def descendants(pid=None):
    """The process ids below `pid` (default: this process), from /proc."""
    kids = {}
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                with open(f"/proc/{p}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            kids.setdefault(ppid, []).append(int(p))
    out, todo = [], [os.getpid() if pid is None else pid]
    while todo:
        for k in kids.get(todo.pop(), []):
            out.append(k)
            todo.append(k)
    return out


def import_without(extra, module=None):
    """Import blendarray (and its consumer side), then blendarray.<module> (default:
    <extra>), in a Python where the module `extra` (torch, ray, gymnasium) cannot be
    imported: what the ImportError says (the process fails if importing blendarray
    imported `extra`)."""
    code = f"""
import sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == {extra!r} or name.startswith({extra + "."!r}):
            raise ImportError(f"No module named {{name!r}}")
sys.meta_path.insert(0, Block())
import blendarray
blendarray.Renderer, blendarray.render
assert {extra!r} not in sys.modules, "import blendarray imported {extra}"
try:
    import blendarray.{module or extra}
except ImportError as e:
    print(e)
"""
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       env=dict(os.environ, PYTHONPATH=PACKAGE_DIR))
    assert p.returncode == 0, p.stderr
    return p.stdout

