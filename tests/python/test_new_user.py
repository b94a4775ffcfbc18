"""What a new user hits in the first hour (issue 8): Blender's own default scene,
passes in any order, scripts that never close, hooks typed anywhere. Each test
here failed before its fix."""
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import time
import warnings

import numpy as np
import pytest

import blendarray as ba
from support import BUILD_DIR, EDITABLE_OFF, PACKAGE_DIR, ROOT, expected_version
from test_bad_input import _children, leaves_nothing  # noqa: F401

HOOKS = os.path.join(ROOT, "tests", "python", "hooks.py")


def _run_py(code, *args, stdin=None, timeout=180, env=None):
    """Run Python code as a user's script would (its own __main__), with the package installed."""
    env = dict(os.environ if env is None else env)
    return subprocess.run([sys.executable, *args], input=stdin, capture_output=True, text=True,
                          timeout=timeout, env=env, cwd=ROOT) if code is None else \
        subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=ROOT)


# -- 1: Cycles capture whatever the order of 1-, 3- and 4-channel passes -------------

def test_cycles_pass_order_does_not_matter(flavour, scenes):
    """Each order in a fresh worker (the shape foreach_get wants was learned once per
    process from the first pass): every array equals the same pass of a reference render."""
    scene = scenes("demo")
    kw = dict(engine="CYCLES", samples=1, resolution=(40, 30), blender=flavour)
    ref = ba.render(scene, passes=["rgba", "normal", "depth", "object_index"], **kw)
    orders = [list(p) for p in itertools.permutations(["depth", "normal", "rgba"])]
    orders += [["object_index", "rgba"], ["object_index", "normal"]]
    for order in orders:
        f = ba.render(scene, passes=order, **kw)
        assert list(f) == order
        for name in order:
            np.testing.assert_array_equal(f[name], ref[name], err_msg=f"{order}: {name}")


# -- 2 and the default scene through every entry point and engine ---------------------

def _default_expectations(f):
    """Blender's default scene from its default camera: the cube fills the image centre,
    the corners see the world. Depth is planar: the cube (2 m, at the origin, the camera
    ~11.2 m away) lies 9.4..11.2 m along the view axis."""
    h, w = f["depth"].shape
    centre = f["depth"][h // 2, w // 2]
    assert 9.0 < centre < 11.3, centre
    assert np.isinf(f["depth"][0, 0]) and np.isinf(f["depth"][-1, -1])  # depth_background=inf
    assert np.isfinite(f["rgba"]).all()
    if "object_index" in f:  # Cycles: no object of the default scene has a pass index
        assert (f["object_index"] == 0).all()
    assert not np.array_equal(f["rgba"][h // 2, w // 2], f["rgba"][0, 0])


@pytest.mark.parametrize("engine", ["CYCLES", "EEVEE", "WORKBENCH"])
def test_default_scene_renders(flavour, scenes, engine, leaves_nothing):
    """The factory-startup scene (denoising on, Filmic/AgX) through ba.render and the
    Renderer. On a Blender without OpenImageDenoise (Debian's), Cycles renders without
    denoising and says so (frame.meta["warnings"], a BlendArrayWarning)."""
    passes = ["rgba", "depth"] + (["object_index"] if engine == "CYCLES" else [])
    kw = dict(passes=passes, engine=engine, samples=1,
              resolution=(64, 36), blender=flavour, depth_background=float("inf"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = ba.render(scenes("default"), display=True, **kw)
        _default_expectations(f)
        assert f["display"].shape == (36, 64, 4)
        with ba.Renderer(scenes("default"), **kw) as r:
            frames = [fr.copy() for fr in r.frames([1, 2])]
    for fr in frames:
        _default_expectations(fr)
        assert fr.meta["warnings"] == f.meta["warnings"]
    no_oidn = flavour == "blender"  # Debian's Blender 3.4.1 is built without it
    if engine == "CYCLES" and no_oidn:
        assert len(f.meta["warnings"]) == 1 and "without denoising" in f.meta["warnings"][0]
        assert any(issubclass(w.category, ba.BlendArrayWarning) and "denoising" in str(w.message)
                   for w in caught)
    else:
        assert f.meta["warnings"] == []
        assert not any(issubclass(w.category, ba.BlendArrayWarning) for w in caught)


def test_denoise_true_without_a_denoiser_is_a_clear_error(flavour, scenes, leaves_nothing):
    kw = dict(passes=["rgba"], engine="CYCLES", samples=1, resolution=(16, 16), blender=flavour)
    if flavour != "blender":
        f = ba.render(scenes("default"), denoise=True, **kw)  # bpy has OpenImageDenoise
        assert f.meta["warnings"] == []
        return
    with pytest.raises(ba.SceneError) as e:
        ba.render(scenes("default"), denoise=True, **kw)
    # asked for from Python or the CLI: the error cannot know which, so it names both
    assert "denoise=False in Python, --denoise off on the command line" in str(e.value), e.value


# -- 3: the crash report Blender wrote, whatever its name ----------------------------

def test_crash_report_is_attached(flavour, scenes, leaves_nothing):
    with pytest.raises(ba.WorkerError, match="SIGSEGV") as e:
        with ba.Renderer(scenes("default"), passes=["rgba"], engine="WORKBENCH",
                         resolution=(16, 16), setup=HOOKS + ":segfault_on_one", retries=0,
                         blender=flavour) as r:
            list(r.frames(3))
    msg = str(e.value)
    assert "index 1 failed" in msg
    if flavour == "blender":  # the bpy module installs no crash handler: no report to attach
        assert "crash report (default.crash.txt)" in msg, msg
        assert "# Blender 3.4" in msg and "segfault_on_one" in msg  # the report's own lines


# -- 4: a Renderer never closed: Python exits cleanly, no worker survives -------------

def test_unclosed_renderer_exits_cleanly(flavour, scenes):
    code = textwrap.dedent(f"""
        import blendarray as ba
        r = ba.Renderer({scenes("demo")!r}, passes=["rgba"], engine="WORKBENCH",
                        resolution=(16, 16), blender={flavour!r})
        f = r.render()
        print("PIDS", *r.worker_pids(), flush=True)
        """)
    for _ in range(3):
        p = _run_py(code)
        assert p.returncode == 0 and "Fatal Python error" not in p.stderr, p.stderr[-2000:]
        assert p.stderr.strip() == "", p.stderr[-2000:]
        pids = [int(x) for x in p.stdout.split("PIDS", 1)[1].split()]
        for pid in pids:
            assert not os.path.exists(f"/proc/{pid}") or \
                open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"


def test_unclosed_renderer_stops_workers_itself(flavour, scenes):
    """At exit the Renderer stops its workers itself: an atexit hook in the consumer
    sees them gone before Python finishes (PR_SET_PDEATHSIG would only act later)."""
    code = textwrap.dedent(f"""
        import atexit, os
        def check():  # registered first, so it runs after blendarray's handler
            gone = all(not os.path.exists(f"/proc/{{pid}}") or
                       open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[0] == "Z"
                       for pid in pids)
            print("WORKERS GONE AT EXIT:", gone, flush=True)
        atexit.register(check)
        import blendarray as ba
        r = ba.Renderer({scenes("demo")!r}, passes=["rgba"], engine="WORKBENCH",
                        resolution=(16, 16), blender={flavour!r})
        r.render()
        pids = r.worker_pids()
        """)
    p = _run_py(code)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "WORKERS GONE AT EXIT: True" in p.stdout, p.stdout + p.stderr[-2000:]


# -- 5: one image-size check, inside Blender, for every entry point -------------------

def huge(scene, index, rng):
    scene.render.resolution_x, scene.render.resolution_y = 60000, 60000
    scene.render.resolution_percentage = 100


def test_huge_image_is_refused_before_rendering(flavour, scenes, leaves_nothing):
    t0 = time.time()
    with pytest.raises(ba.SceneError, match="60000x60000"):
        ba.render(resolution=(60000, 60000))  # checked here, before any Blender starts
    with pytest.raises(ba.SceneError, match="60000x60000"):  # a scene (or hook) that asks for it
        # timeout: were the check missing, Blender would grow by ~400 MB/s (stop it early)
        with ba.Renderer(scenes("demo"), passes=["rgba"], setup=huge, blender=flavour,
                         timeout=10) as r:
            r.render()
    assert time.time() - t0 < 60


# -- 6: a consumer Python without the built extension ---------------------------------

@pytest.mark.parametrize("case", ["missing", "built for another Python"])
def test_missing_extension_says_so(tmp_path, case):
    """A package whose extension is missing, or built for another CPython: the
    error says which, and how to install it for this Python; no Blender starts."""
    import blendarray._core
    pkg = tmp_path / "blendarray"
    shutil.copytree(os.path.dirname(blendarray._core.__file__), pkg,
                    ignore=shutil.ignore_patterns("_core*.so", "__pycache__", "*.p"))
    if case != "missing":
        shutil.copy(blendarray._core.__file__, pkg / "_core.cpython-399-x86_64-linux-gnu.so")
    code = ("import sys; sys.path.insert(0, %r); import time, blendarray as ba\n"
            "assert ba.__file__.startswith(%r), ba.__file__\n"
            "t = time.time()\n"
            "try:\n"
            "    ba.render(passes=['rgba'], resolution=(8, 8))\n"
            "except ba.BlendArrayError as e:\n"
            "    print(type(e).__name__, e, round(time.time() - t, 1))\n" % (str(tmp_path), str(pkg)))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **EDITABLE_OFF))
    assert "blendarray._core" in p.stdout and "-m pip install /path/to/blendarray" in p.stdout, p.stdout + p.stderr
    if case != "missing":
        assert "built for another Python (_core.cpython-399-x86_64-linux-gnu.so)" in p.stdout, p.stdout
    assert "SIGKILL" not in p.stdout and "WorkerError" not in p.stdout
    assert float(p.stdout.split()[-1]) < 5  # no Blender was started and waited for


def test_library_of_another_version_is_refused_by_name(tmp_path):
    """The in-Blender side (ctypes) finds a libblendarray.so of another version
    than its .py files: an error naming both, not a wrong call into the library."""
    import blendarray._core
    pkg = tmp_path / "blendarray"
    shutil.copytree(os.path.dirname(blendarray._core.__file__), pkg,
                    ignore=shutil.ignore_patterns("__pycache__", "*.p"))
    (pkg / "_version.py").write_text('version = "9.9.9"\n')
    code = ("import sys; sys.path.insert(0, %r)\n"
            "from blendarray import _lib\n" % str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **EDITABLE_OFF))
    assert p.returncode == 1
    assert f"is libblendarray {ba.__version__}, but the blendarray package" in p.stderr, p.stderr
    assert "is 9.9.9: a mixed install; reinstall blendarray" in p.stderr, p.stderr
    # the consumer's side: the extension of another version than the .py files
    code = ("import sys; sys.path.insert(0, %r); import blendarray as ba\n"
            "try:\n"
            "    ba.render(passes=['rgba'], resolution=(8, 8))\n"
            "except ba.BlendArrayError as e:\n"
            "    print(e)\n" % str(tmp_path))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **EDITABLE_OFF))
    assert (f"blendarray 9.9.9 found a C extension of blendarray {ba.__version__}" in p.stdout
            and "a mixed install" in p.stdout), p.stdout + p.stderr


def test_worker_imports_only_blendarray_from_its_package(flavour, scenes):
    """A worker imports blendarray from the consumer's package folder, without
    that folder's parent (a venv's site-packages, once installed) on its sys.path,
    and only the in-Blender modules; Debian's Blender sees nothing of the venv."""
    import blendarray._core
    pkg = os.path.dirname(blendarray._core.__file__)
    with ba.Renderer(scenes("demo"), passes=["rgba"], resolution=(8, 8), engine="WORKBENCH",
                     setup=HOOKS + ":where_blendarray_is", blender=flavour) as r:
        got = r.render().meta
    assert got["package"] == os.path.join(pkg, "__init__.py"), got["package"]
    assert os.path.dirname(pkg) not in got["path"], got["path"]
    if flavour == "blender":
        assert not [p for p in got["path"] if p.startswith(sys.prefix)], got["path"]
    assert "blendarray._renderer" not in got["modules"] and "blendarray._core" not in got["modules"]


# -- 8: depth's background, the same on every engine when asked ----------------------

@pytest.mark.parametrize("engine", ["CYCLES", "EEVEE", "WORKBENCH"])
def test_depth_background(flavour, scenes, engine):
    """quadrant: one square at 10 m in the top-left quadrant, nothing else."""
    kw = dict(passes=["depth"], engine=engine, blender=flavour)
    plain = ba.render(scenes("quadrant"), **kw)["depth"]
    inf = ba.render(scenes("quadrant"), depth_background=float("inf"), **kw)["depth"]
    nan = ba.render(scenes("quadrant"), depth_background=float("nan"), **kw)["depth"]
    square = np.abs(plain - 10.0) < 1e-3
    assert square.sum() > 50 and (~square).sum() > 1000
    # the engine's own marker, beyond anything geometry can have (clip_end is 100)
    assert (plain[~square] >= 100 * (1 - 1e-4)).all()
    assert len(np.unique(plain[~square])) == 1
    np.testing.assert_array_equal(inf[square], plain[square])
    assert np.isposinf(inf[~square]).all()
    np.testing.assert_array_equal(nan[square], plain[square])
    assert np.isnan(nan[~square]).all()


# -- 9: hooks from a script, `python -c`, `python -`; errors named once ---------------

_HOOK_SCRIPT = """
import math, sys
from os.path import basename
import blendarray as ba

SCALE = 0.5
NAMES = ("RedCube",)

def half(x):
    return x * SCALE

def randomize(scene, index, rng):
    cube = scene.objects[NAMES[0]]
    cube.rotation_euler.z = half(math.pi) + index
    return {"z": cube.rotation_euler.z, "tag": basename("/a/b.c")}

with ba.Renderer(passes=["rgba"], engine="WORKBENCH", resolution=(16, 16), setup=randomize,
                 blender=sys.argv[1]) as r:
    for f in r.frames(2):
        print("META", f.meta["index"], f.meta["z"], f.meta["tag"])
"""


@pytest.mark.parametrize("how", ["script", "-c", "stdin"])
def test_hook_sees_its_module(flavour, how, tmp_path):
    """A hook defined in __main__ uses the script's imports, a constant, a helper."""
    if how == "script":
        path = tmp_path / "myscript.py"
        path.write_text(_HOOK_SCRIPT)
        p = _run_py(None, str(path), flavour)
    elif how == "-c":
        p = _run_py(_HOOK_SCRIPT, flavour)
    else:
        p = _run_py(None, "-", flavour, stdin=_HOOK_SCRIPT)
    assert p.returncode == 0, p.stdout + p.stderr[-3000:]
    got = [line.split() for line in p.stdout.splitlines() if line.startswith("META")]
    assert [(g[1], g[3]) for g in got] == [("0", "b.c"), ("1", "b.c")]
    for g in got:
        assert abs(float(g[2]) - (np.pi / 2 + int(g[1]))) < 1e-6


def test_hook_with_unsendable_global_is_refused_clearly():
    code = textwrap.dedent("""
        import threading, blendarray as ba
        LOCK = threading.Lock()
        def hook(scene, index, rng):
            with LOCK:
                return {}
        try:
            ba.Renderer(passes=["rgba"], setup=hook)
        except ba.SetupError as e:
            print("ERR", e)
        """)
    p = _run_py(code)
    assert "ERR" in p.stdout, p.stdout + p.stderr
    assert "'LOCK'" in p.stdout and "setup='file.py:function'" in p.stdout


def test_hook_error_names_index_and_frame_and_shows_traceback_once(flavour, scenes):
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="WORKBENCH", resolution=(16, 16),
                     setup=HOOKS + ":fail_on_three", blender=flavour) as r:
        with pytest.raises(ba.SetupError) as e:
            list(r.frames([10, 11, 12, 13, 14]))
    msg = str(e.value)
    assert msg.startswith("index 3: the setup hook raised on scene frame 13: ValueError"), msg
    assert msg.count("index 3") == 1, msg
    assert msg.count("Traceback") == 1 and msg.count("fail_on_three") == 1, msg
    assert msg.count('raise ValueError("the hook refuses frame 3")') == 1, msg
    assert "worker.py" not in msg and "_hooks.py" not in msg, msg  # only the user's frames


# -- 10: an unknown pass name suggests the nearest -----------------------------------

def test_unknown_pass_suggests_the_nearest(flavour, scenes):
    with pytest.raises(ba.PassError, match=r"'dpeth' \(did you mean 'depth'\?\)"):
        ba.render(scenes("demo"), passes=["rgba", "dpeth"], engine="WORKBENCH", blender=flavour)
    f = ba.Frame({"depth": np.zeros((2, 2), np.float32)})
    with pytest.raises(ba.PassError, match="did you mean 'depth'"):
        f["dept"]



# -- issue 22: a newer Blender's file; each entry point's own words; two view layers ----

CLI = os.path.join(BUILD_DIR, "blendarray")
_SAVE = """
import sys, bpy
bpy.ops.wm.read_factory_settings()
bpy.ops.wm.save_as_mainfile(filepath=sys.argv[1], compress=sys.argv[2] == "1")
print("SAVED", *bpy.app.version[:2])
"""


@pytest.fixture(scope="module")
def blend_50(tmp_path_factory):
    """Blender's default scene saved by this venv's bpy (5.x: the new 17-byte header),
    compressed (zstd) and not: {compressed: path}, and bpy's "major.minor"."""
    d = tmp_path_factory.mktemp("newer")
    paths, version = {}, None
    for compressed in (True, False):
        paths[compressed] = str(d / f"default-{int(compressed)}.blend")
        p = subprocess.run([sys.executable, "-c", _SAVE, paths[compressed], str(int(compressed))],
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, p.stderr[-2000:]
        version = ".".join(p.stdout.split("SAVED", 1)[1].split()[:2])
    assert int(version.split(".")[0]) >= 5, version
    with open(paths[True], "rb") as f:
        assert f.read(4) == b"\x28\xb5\x2f\xfd"  # zstd
    with open(paths[False], "rb") as f:
        assert f.read(13) == b"BLENDER17-01v"
    return paths, version


def test_a_newer_blenders_file_names_both_versions(flavour, blend_50, leaves_nothing):
    """Blender 3.4 says only "not a blend file" of a 5.x file: the error names the
    Blender that saved it, the one that tried, and how to choose another."""
    paths, saved = blend_50
    kw = dict(passes=["rgba"], engine="WORKBENCH", resolution=(8, 8), blender=flavour)
    if flavour != "blender":  # bpy 5.x opens its own files
        assert ba.render(paths[True], **kw)["rgba"].shape == (8, 8, 4)
        return
    this = expected_version("blender")
    for compressed, path in paths.items():
        with pytest.raises(ba.SceneError) as e:
            ba.render(path, **kw)
        msg = str(e.value)
        assert f"scene {path} was saved by Blender {saved}; this is Blender {this}" in msg, msg
        assert "cannot open files of newer versions" in msg and "not a blend file" not in msg
        assert "blender= or python= in Python, --blender or --python on the command line" in msg
    r = subprocess.run([CLI, "render", paths[True], "-p", "rgba", "-e", "workbench", "--size", "8x8",
                        "-o", "-"], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0 and f"was saved by Blender {saved}; this is Blender {this}" in r.stderr, \
        r.stderr


def test_a_file_blender_cannot_read_says_what_it_is(flavour, tmp_path, leaves_nothing):
    """A gzip stream that holds no .blend, and a Blender header of a format no
    Blender writes yet: each said for what it is."""
    import gzip
    kw = dict(passes=["rgba"], engine="WORKBENCH", resolution=(8, 8), blender=flavour)
    bad = tmp_path / "text.blend"
    bad.write_bytes(gzip.compress(b"just some text, not a scene\n" * 10))
    with pytest.raises(ba.SceneError, match="it is not a .blend file"):
        ba.render(str(bad), **kw)
    future = tmp_path / "future.blend"
    future.write_bytes(b"BLENDER17-02v0900" + bytes(4096))
    with pytest.raises(ba.SceneError, match="saved by a Blender newer than any blendarray knows"):
        ba.render(str(future), **kw)


def test_denoiser_warning_in_each_entry_points_words(flavour, scenes, tmp_path):
    """The default scene asks Cycles to denoise; Debian's Blender has no denoiser. Python
    hears denoise=False, the CLI --denoise off; the metadata names neither but says
    which setting silences it."""
    if flavour != "blender":
        pytest.skip("bpy has OpenImageDenoise: no warning")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        f = ba.render(scenes("default"), passes=["rgba"], engine="CYCLES", samples=1,
                      resolution=(16, 16), blender=flavour)
    [w] = [str(c.message) for c in caught if issubclass(c.category, ba.BlendArrayWarning)]
    assert w.endswith("without denoising (pass denoise=False to silence this)"), w
    assert f.meta["warning_fixes"] == [{"denoise": False}]
    [m] = f.meta["warnings"]
    assert "without denoising" in m and "denoise=" not in m and "--denoise" not in m, m
    r = subprocess.run([CLI, "render", scenes("default"), "-p", "rgba", "-e", "cycles", "-s", "1",
                        "--size", "16x16", "-q", "-o", str(tmp_path / "out.npz")],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    [line] = [ln for ln in r.stderr.splitlines() if "warning" in ln]
    assert line.endswith("without denoising (--denoise off silences it)"), r.stderr
    assert "denoise=False" not in r.stderr, r.stderr


_ADDON = """
import importlib.util, sys, bpy
spec = importlib.util.spec_from_file_location("blendarray_addon", sys.argv[-2])
addon = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(addon)
addon.register()
sc = bpy.context.scene  # Blender's default: Cycles, denoising on
sc.render.engine, sc.cycles.samples = "CYCLES", 1
sc.render.resolution_x = sc.render.resolution_y = 16
print("RESULT", bpy.ops.render.blendarray_npz(filepath=sys.argv[-1]))
"""


def test_addon_says_the_denoiser_warning_in_blenders_words(flavour, tmp_path):
    """The add-on renders the scene as it is set up: its warning names the scene's
    own checkbox, not a Python keyword or a CLI option."""
    if flavour != "blender":
        pytest.skip("bpy has OpenImageDenoise: no warning")
    script = tmp_path / "addon.py"
    script.write_text(_ADDON)
    p = subprocess.run(["blender", "-b", "--factory-startup", "--python", str(script), "--",
                        os.path.join(ROOT, "blender_addon", "__init__.py"), str(tmp_path / "o.npz")],
                       capture_output=True, text=True, timeout=180,
                       env=dict(os.environ, PYTHONPATH=PACKAGE_DIR))
    assert "RESULT {'FINISHED'}" in p.stdout, p.stdout[-3000:] + p.stderr[-3000:]
    [line] = [ln for ln in p.stdout.splitlines() if ln.startswith("Warning: blendarray:")]
    assert line.endswith("without denoising (Render Properties > Sampling > Render > Denoise: "
                         "off silences it)"), line
    assert "denoise=False" not in p.stdout + p.stderr and "--denoise" not in p.stdout + p.stderr


def test_display_fallback_of_two_view_layers_says_so(flavour, scenes):
    """passes=None on a scene with two rendering view layers: their passes are
    "Main/rgba" and "Second/rgba", and the reason Blender's route made the display
    image is the layers, not a missing rgba pass."""
    f = ba.render(scenes("twolayers"), passes=None, display=True, engine="WORKBENCH",
                  blender=flavour)
    assert "Main/rgba" in f and "Second/rgba" in f and "rgba" not in f
    why = f.meta["display_fallback"]
    assert f.meta["display_route"] == "blender"
    assert why.startswith("the scene renders 2 view layers (Main, Second)"), why
    assert "not asked for" not in why, why
