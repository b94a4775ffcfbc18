"""blendarray installed INTO Blender like any add-on, with real Blenders.

scripts/build-blender-addon.py builds, from the package the tests use, a
Blender 4.2+ extension zip and a legacy add-on zip (3.x). Per Blender: the
right zip is installed into a throw-away user-resource folder (BLENDER_USER_*
and HOME point into tmp_path); then a second Blender process with the same
folder, and no PYTHONPATH, runs a script that imports `blendarray.blender`
(from the add-on's copy), renders, and runs the add-on's operator
(render.blendarray_npz, in the Render menu) in background mode. The .npz it
writes must hold, bit for bit, the arrays `blendarray.render(<same scene>,
passes=None, display=True)` returns from the same Blender.

Runs on every flavour of the `matrix` (support.py): Debian's `blender` binary
(3.4: the legacy add-on), this venv's `bpy` and the extra bpy versions of
scripts/blenders.txt (4.2+: the extension). `addon_roundtrip(name,
executable, zips, folder)` does one: a Blender binary, or a Python whose bpy
renders.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import blendarray
from support import EXTRA_FLAVOURS, ROOT, assert_version

BUILD = os.path.join(ROOT, "scripts", "build-blender-addon.py")
SIZE = (32, 24)

# ---------------------------------------------------------------------------
# Scripts run inside Blender (written to tmp files; argv after "--" or after the script)

_ARGS = textwrap.dedent("""\
    import json, os, sys
    import bpy
    ARGS = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    """)

INSTALL = _ARGS + textwrap.dedent("""\
    # ARGS: extension zip, legacy zip, scene to save
    ext_zip, legacy_zip, scene_path = ARGS
    if bpy.app.version >= (4, 2, 0):
        # what `blender --command extension install-file -r user_default -e ZIP` runs
        # (it saves the preferences itself)
        kind, module = "extension", "bl_ext.user_default.blendarray"
        from bl_pkg import bl_extension_cli
        rc = bl_extension_cli.cli_extension_handler(["install-file", "-r", "user_default", "-e",
                                                     ext_zip])
        assert rc == 0, rc
    else:  # what Preferences > Add-ons > Install... and its checkbox do
        kind, module = "legacy", "blendarray_addon"
        r = bpy.ops.preferences.addon_install(filepath=legacy_zip)
        assert r == {"FINISHED"}, r
        r = bpy.ops.preferences.addon_enable(module=module)
        assert r == {"FINISHED"}, r
        bpy.ops.wm.save_userpref()
    assert module in bpy.context.preferences.addons, [a.module for a in bpy.context.preferences.addons]

    # The test scene, saved by this Blender (an older one cannot read a newer's files).
    import blendarray.blender.scenes as S
    for ob in list(bpy.data.objects):
        bpy.data.objects.remove(ob)
    sc = S.build_demo(bpy.context.scene)
    sc.render.resolution_x, sc.render.resolution_y = %(size)r
    sc.cycles.samples = 2
    vl = sc.view_layers[0]
    vl.use_pass_z = vl.use_pass_normal = vl.use_pass_object_index = True
    bpy.ops.wm.save_as_mainfile(filepath=scene_path, compress=False)
    print("INSTALLED " + json.dumps({"kind": kind, "module": module,
                                     "version": bpy.app.version_string}), flush=True)
    """ % {"size": SIZE})

USE = _ARGS + textwrap.dedent("""\
    # ARGS: how to get the user's add-ons ("startup": the binary loaded them; "prefs":
    # the bpy module starts with factory settings, load the user's), add-on module,
    # user folder, scene, output .npz
    how, module, user_dir, scene_path, out = ARGS
    assert "PYTHONPATH" not in os.environ
    assert "blendarray" not in sys.modules or how == "startup"
    if how == "prefs":
        if bpy.app.version >= (4, 5, 0):
            bpy.ops.wm.read_userpref()  # enables what the user's preferences enable
        else:  # bpy 4.2's read_userpref crashes in module mode: enable the installed add-on
            import addon_utils
            addon_utils.enable(module, default_set=True, handle_error=None)

    import blendarray.blender as bab
    import numpy as np
    real = os.path.realpath
    assert real(bab.__file__).startswith(real(user_dir) + os.sep), bab.__file__
    # on sys.path: the folder that holds the bundled package, and nothing else of the add-on's
    holder = os.path.dirname(os.path.dirname(os.path.dirname(real(bab.__file__))))
    addon_dir = os.path.dirname(holder)
    mine = [p for p in sys.path if real(p) == addon_dir or real(p).startswith(addon_dir + os.sep)]
    assert mine == [holder] and os.listdir(holder) == ["blendarray"], (holder, sys.path)
    # and its finder, ahead of an editable install's
    assert any(getattr(f, "__module__", "") == module for f in sys.meta_path), sys.meta_path

    # the operator, in the Render menu
    assert hasattr(bpy.types, "RENDER_OT_blendarray_npz")
    menu = getattr(bpy.types.TOPBAR_MT_render.draw, "_draw_funcs", [])
    assert any(getattr(f, "__module__", "") == module for f in menu), menu

    bpy.ops.wm.open_mainfile(filepath=scene_path, load_ui=False)
    f = bab.render(passes=["rgba", "depth"])  # a script renders with the installed package
    assert f["rgba"].shape == (%(h)d, %(w)d, 4) and f["depth"].shape == (%(h)d, %(w)d), f

    bad = os.path.join(os.path.dirname(out), "no-such-folder", "x.npz")
    try:
        bpy.ops.render.blendarray_npz(filepath=bad)
        raise AssertionError("an unwritable path was accepted")
    except RuntimeError as e:
        assert "blendarray" in str(e), e
    assert not os.path.exists(os.path.dirname(bad))

    r = bpy.ops.render.blendarray_npz(filepath=out)  # background mode: no file browser
    assert r == {"FINISHED"}, r

    import addon_utils
    addon_utils.disable(module, default_set=False)
    assert not any(real(p) == holder for p in sys.path), sys.path
    assert not any(getattr(f, "__module__", "") == module for f in sys.meta_path), sys.meta_path
    assert "blendarray" not in sys.modules
    assert not hasattr(bpy.types, "RENDER_OT_blendarray_npz")
    print("ADDON OK", flush=True)
    """ % {"w": SIZE[0], "h": SIZE[1]})

# ---------------------------------------------------------------------------


def package_dir():
    """The blendarray package the tests use (where its consumer extension lives)."""
    import blendarray._core
    return os.path.dirname(blendarray._core.__file__)


def build_zips(package, out):
    p = subprocess.run([sys.executable, BUILD, "--package", package, "--out", str(out)],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    paths = p.stdout.split()
    assert len(paths) == 2 and all(os.path.isfile(x) for x in paths), p.stdout
    ext = next(x for x in paths if x.endswith("-extension.zip"))
    legacy = next(x for x in paths if x.endswith("-addon.zip"))
    return ext, legacy


@pytest.fixture(scope="module")
def zips(tmp_path_factory):
    return build_zips(package_dir(), tmp_path_factory.mktemp("zips"))


def executable(flavour):
    """The Blender binary ("blender") or the Python whose bpy renders (the others)."""
    if flavour == "blender":
        return shutil.which("blender") or "blender"
    if flavour in EXTRA_FLAVOURS:
        return EXTRA_FLAVOURS[flavour].python
    return sys.executable


def blender_env(folder):
    """The environment of a Blender whose user resources all lie in `folder`:
    no PYTHONPATH (the add-on alone must make blendarray importable), no BLENDARRAY_*."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith("BLENDARRAY_")}
    user = os.path.join(folder, "user")
    env.update(HOME=os.path.join(folder, "home"),
               BLENDER_USER_RESOURCES=user,  # 4.2+: everything below
               BLENDER_USER_CONFIG=os.path.join(user, "config"),
               BLENDER_USER_SCRIPTS=os.path.join(user, "scripts"),
               BLENDER_USER_DATAFILES=os.path.join(user, "datafiles"))
    os.makedirs(env["HOME"], exist_ok=True)
    return env


def _is_binary(exe):
    """A Blender binary, not a Python whose bpy renders."""
    return not os.path.basename(exe).startswith("python") and exe != sys.executable


def run_in(flavour, exe, script_text, args, env, folder, name):
    script = os.path.join(folder, name + ".py")
    with open(script, "w") as f:
        f.write(script_text)
    if _is_binary(exe):
        # no --factory-startup: the user's preferences are what enable the add-on
        cmd = [exe, "-b", "-noaudio", "--python-exit-code", "1", "--python", script, "--", *args]
    else:
        cmd = [exe, script, *args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, cwd=folder)
    if p.returncode != 0:
        raise AssertionError(f"{name} failed in {flavour} (exit {p.returncode}):\n"
                             f"{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
    return p.stdout


def addon_roundtrip(flavour, exe, zips, folder):
    """Install the add-on into a fresh user folder of this Blender, use it from a
    second process, and compare the operator's .npz with blendarray.render's arrays."""
    folder = str(folder)
    env = blender_env(folder)
    user = env["BLENDER_USER_RESOURCES"]
    scene = os.path.join(folder, "scene.blend")
    out = os.path.join(folder, "out.npz")

    stdout = run_in(flavour, exe, INSTALL, [*zips, scene], env, folder, "install")
    info = json.loads(stdout.split("INSTALLED ", 1)[1].splitlines()[0])
    if info["kind"] == "extension":
        installed = os.path.join(user, "extensions", "user_default", "blendarray")
        assert os.path.isfile(os.path.join(installed, "blender_manifest.toml"))
    else:
        installed = os.path.join(user, "scripts", "addons", "blendarray_addon")
    assert os.path.isfile(os.path.join(installed, "vendor", "blendarray", "libblendarray.so"))
    assert os.path.isfile(os.path.join(user, "config", "userpref.blend"))

    how = "startup" if _is_binary(exe) else "prefs"
    stdout = run_in(flavour, exe, USE, [how, info["module"], user, scene, out], env, folder, "use")
    assert "ADDON OK" in stdout, stdout[-3000:]
    # the throw-away folders are the only ones Blender wrote to
    assert not os.path.exists(os.path.join(env["HOME"], ".config", "blender")), \
        os.listdir(os.path.join(env["HOME"], ".config", "blender"))

    which = ({"blender": exe} if _is_binary(exe) else
             {"blender": "bpy"} if exe == sys.executable else {"blender": "bpy", "python": exe})
    ref = blendarray.render(scene, passes=None, display=True, **which)
    with np.load(out) as z:
        got = {k: z[k] for k in z.files}
    meta = json.loads(bytes(got.pop("meta.json")))
    assert list(got) == list(ref), (list(got), list(ref))
    assert "display" in got and {"rgba", "depth", "normal", "object_index"} <= set(got)
    for name, a in ref.items():
        g = got[name]
        assert (g.dtype, g.shape) == (a.dtype, a.shape), name
        assert g.tobytes() == np.ascontiguousarray(a).tobytes(), f"{name} differs from ba.render's"
    assert meta["K"] == ref.meta["K"] and meta["resolution"] == list(SIZE)
    assert meta["blender_version"] == ref.meta["blender_version"]
    assert set(meta["passes"]) == set(ref) - {"display"}
    assert [f for f in os.listdir(folder) if f.startswith(".out.npz")] == []  # no temporary left
    return info, ref


def _home_blender_files():
    base = os.path.expanduser("~/.config/blender")
    found = set()
    for folder, _, files in os.walk(base):
        found.update(os.path.join(folder, f) for f in files)
    return {f for f in found if "blendarray" in f}


@pytest.mark.matrix
def test_addon_installs_imports_and_operator_matches_render(flavour, zips, tmp_path):
    before = _home_blender_files()
    info, ref = addon_roundtrip(flavour, executable(flavour), zips, tmp_path)
    assert_version(flavour, ref)  # this flavour's Blender made both
    assert info["kind"] == ("legacy" if info["version"].startswith("3.") else "extension")
    assert _home_blender_files() == before  # nothing of blendarray's in the real ~/.config/blender


# ---------------------------------------------------------------------------
# The zips and the build script, without a Blender


def test_zips_hold_the_addon_and_the_package_only(zips):
    ext, legacy = zips
    version = blendarray.__version__
    assert os.path.basename(ext) == f"blendarray-{version}-extension.zip"
    assert os.path.basename(legacy) == f"blendarray-{version}-addon.zip"
    with zipfile.ZipFile(ext) as z:
        names = z.namelist()
        manifest = z.read("blender_manifest.toml").decode()
        init = z.read("__init__.py").decode()
    assert "__init__.py" in names and "vendor/blendarray/libblendarray.so" in names
    assert "vendor/blendarray/blender/__init__.py" in names
    assert {n.split("/")[0] for n in names} == {"blender_manifest.toml", "__init__.py", "vendor"}
    for n in names:
        assert "__pycache__" not in n and not n.endswith((".pyc", ".c", ".h")), n
        assert not os.path.basename(n).startswith("_core"), n  # no CPython extension
    for line in ('schema_version = "1.0.0"', 'id = "blendarray"', 'blender_version_min = "4.2.0"',
                 'platforms = ["linux-x64"]', "[permissions]"):
        assert line in manifest, line
    assert "@VERSION@" not in manifest and "version = \"" in manifest
    assert "(0, 0, 0)" not in init
    with zipfile.ZipFile(legacy) as z:
        lnames = z.namelist()
    assert all(n.startswith("blendarray_addon/") for n in lnames)
    assert sorted(n[len("blendarray_addon/"):] for n in lnames) == sorted(
        n for n in names if n != "blender_manifest.toml")


def _fake_package(root, init_version=None, version_py=None):
    pkg = os.path.join(root, "blendarray")
    os.makedirs(os.path.join(pkg, "blender", "__pycache__"))
    with open(os.path.join(pkg, "__init__.py"), "w") as f:
        f.write(f"__version__ = {init_version!r}\n" if init_version else
                "from ._version import version as __version__\n")
    if version_py is not None:
        with open(os.path.join(pkg, "_version.py"), "w") as f:
            f.write(f"# generated\nversion = {version_py!r}\n")
    for rel in ("blender/__init__.py", "blender/__pycache__/x.cpython-311.pyc", "_core.c",
                "_core.cpython-311-x86_64-linux-gnu.so", "_version.py.in", "libblendarray.so"):
        with open(os.path.join(pkg, rel), "w") as f:
            f.write("x = 1\n")
    return pkg


@pytest.mark.parametrize("init_version,version_py,want,manifest", [
    ("0.3.1", None, "0.3.1", "0.3.1"),
    (None, "0.4.0", "0.4.0", "0.4.0"),
    (None, "0.4.0.dev3+g1234", "0.4.0.dev3+g1234", "0.4.0-dev3+g1234"),
])
def test_build_reads_the_version_without_importing(tmp_path, init_version, version_py, want, manifest):
    pkg = _fake_package(str(tmp_path / "src"), init_version, version_py)
    ext, legacy = build_zips(pkg, tmp_path / "out")
    assert os.path.basename(ext) == f"blendarray-{want}-extension.zip"
    with zipfile.ZipFile(ext) as z:
        assert f'version = "{manifest}"' in z.read("blender_manifest.toml").decode()
        assert sorted(z.namelist()) == sorted([
            "blender_manifest.toml", "__init__.py", "vendor/blendarray/__init__.py",
            "vendor/blendarray/blender/__init__.py", "vendor/blendarray/libblendarray.so"]
            + (["vendor/blendarray/_version.py"] if version_py else []))
        nums = tuple(int(x) for x in want.split("+")[0].split(".")[:3] if x.isdigit())
        assert f'"version": {nums!r},' in z.read("__init__.py").decode()
    assert sorted(os.listdir(tmp_path / "out")) == sorted(os.path.basename(x) for x in (ext, legacy))


def test_build_refuses_an_incomplete_package_and_leaves_nothing(tmp_path):
    pkg = _fake_package(str(tmp_path / "src"), "0.1.0")
    os.unlink(os.path.join(pkg, "libblendarray.so"))
    out = tmp_path / "out"
    p = subprocess.run([sys.executable, BUILD, "--package", pkg, "--out", str(out)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1 and "libblendarray.so" in p.stderr, p.stderr
    assert not out.exists() or os.listdir(out) == []


# ---------------------------------------------------------------------------
# The supported-version check (a fake `bpy` stands in: no Blender needed)

_FAKE_BPY = "class app:\n    version = %r\n    version_string = 'fake'\n"


def _with_fake_bpy(tmp_path, version, code):
    d = tmp_path / f"fake-{'.'.join(map(str, version))}"
    d.mkdir()
    (d / "bpy.py").write_text(_FAKE_BPY % (version,))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(d), os.path.dirname(package_dir())]))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, env=env)


def test_version_check_names_the_supported_versions(tmp_path):
    code = textwrap.dedent("""\
        import blendarray.blender as bab
        for ok in [(3, 4, 0), (3, 4, 1), (3, 6, 9), (4, 2, 23), (4, 5, 15), (5, 0, 1), (5, 2, 3),
                   (6, 0, 0), [4, 2, 0], (4, 2)]:
            assert bab.check_blender_version(ok) == tuple((list(ok) + [0])[:3]), ok
        for old in [(3, 3, 21), (3, 0, 0), (2, 93, 18), (2, 80, 0), (1, 0, 0), (0, 0, 0)]:
            try:
                bab.check_blender_version(old)
            except bab.UnsupportedBlenderError as e:
                msg = str(e)
                assert "%d.%d.%d" % old in msg, msg
                for v in ("3.4", "4.2 LTS", "4.5 LTS", "5.0", "5.2 LTS"):
                    assert v in msg, (v, msg)
            else:
                raise AssertionError(f"{old} accepted")
        from blendarray import BlendArrayError
        for junk in [None, (), "4.2", ("a", "b")]:
            try:
                bab.check_blender_version(junk)
                raise AssertionError(f"{junk!r} accepted")
            except BlendArrayError as e:
                assert "3.4.0 or newer" in str(e), e
        print("CHECK OK")
        """)
    p = _with_fake_bpy(tmp_path, (5, 0, 1), code)
    assert "CHECK OK" in p.stdout, p.stdout + p.stderr


def test_an_older_blender_hears_which_versions_are_supported(tmp_path):
    p = _with_fake_bpy(tmp_path, (3, 3, 0), "import blendarray.blender.worker")
    assert p.returncode != 0
    last = p.stderr.strip().splitlines()[-1]
    assert last.startswith("blendarray.blender.UnsupportedBlenderError: this is Blender 3.3.0"), p.stderr
    assert "3.4.0 or newer" in last and "5.2 LTS" in last, last
