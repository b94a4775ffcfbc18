"""blendarray installed as its users install it, outside the checkout.

- `pip install <checkout>` into fresh virtual environments of other CPythons
  (3.10, 3.12) than the checkout's: the package, the extension built for that
  Python, the CLI on the venv's PATH; then ba.render and `blendarray render`
  with no environment variable, with Debian's Blender.
- `pip wheel` with Python 3.13, the wheel installed with the [bpy] extra (bpy
  5.2): the same, rendering with bpy (no blender on PATH).
- `meson install` of the C library: a C program builds against it with
  pkg-config and runs; the C install (Python disabled) renders, from a C
  program and from its `blendarray render`, with no environment variable.
- A machine without the libraries' development files: the error names them.

Each venv is new (pip's cache and this machine's package mirror make it
quick): what a new user gets, not what the checkout happens to have.
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from support import ROOT, find_python, user_env

# pip and meson build blendarray anew for each; most then render
pytestmark = [pytest.mark.slow, pytest.mark.blender]

with open(os.path.join(ROOT, "meson.build")) as f:
    VERSION = re.search(r"^\s*version: '([0-9.]+)'", f.read(), re.M).group(1)


def _need_python(minor):
    exe = find_python(f"3.{minor}")
    if exe is None:
        msg = f"no Python 3.{minor} on this machine: blendarray's install on it is NOT TESTED"
        if os.environ.get("BLENDARRAY_REQUIRE_FLAVOURS") == "1" and minor != 13:
            pytest.fail(msg)
        pytest.skip(msg)
    return exe


def _user_env(venv, path=None):
    """A user's environment with the venv activated: first on PATH, then `path`
    (default: PATH as it is)."""
    return user_env(PATH=os.pathsep.join([str(venv / "bin"), path if path is not None else os.environ["PATH"]]),
                    VIRTUAL_ENV=str(venv))


def _venv(python, where):
    subprocess.run([python, "-m", "venv", str(where)], check=True, capture_output=True)
    return where / "bin" / "python"


def _pip(py, *args, env=None, check=True):
    p = subprocess.run([str(py), "-m", "pip", "install", "--disable-pip-version-check", *args],
                       capture_output=True, text=True, env=env, timeout=900)
    if check and p.returncode != 0:
        raise AssertionError(f"pip install {' '.join(args)} failed:\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
    return p


# What the user runs: a script that renders, a hook that reports what Blender's
# Python sees (its sys.path and NumPy: Blender's own, not the venv's).
USER_SCRIPT = r'''
import json, sys
import blendarray as ba

def where(scene, index, rng):
    import sys, numpy
    return {"path": sys.path, "numpy": numpy.__file__}

f = ba.render(passes=["rgba"], engine="WORKBENCH", resolution=(32, 24))
with ba.Renderer(passes=["rgba"], engine="WORKBENCH", resolution=(8, 8), setup=where) as r:
    g = r.render()
print(json.dumps({"frame": repr(f), "version": ba.__version__, "package": ba.__file__,
                  "blender": f.meta["blender_version"], "path": g.meta["path"],
                  "numpy": g.meta["numpy"], "rgba_mean": float(f["rgba"].mean())}))
'''


def _check_user_run(venv, tmp_path, env, blender_major):
    script = tmp_path / "user.py"
    script.write_text(USER_SCRIPT)
    p = subprocess.run([str(venv / "bin" / "python"), str(script)], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    got = json.loads(p.stdout.strip().splitlines()[-1])
    assert got["frame"] == "<Frame 1 {rgba: float32[24, 32, 4]}>"
    assert got["version"] == VERSION
    assert got["package"].startswith(str(venv)), got["package"]  # the installed one
    assert got["blender"].split(".")[0] == blender_major, got["blender"]
    assert got["rgba_mean"] > 0
    # the worker found blendarray without the venv's site-packages on its sys.path
    site = [p for p in got["path"] if p.startswith(str(venv))]
    if blender_major == "3":  # Debian's Blender: nothing of the venv at all
        assert site == [], site
        assert not got["numpy"].startswith(str(venv)), got["numpy"]
    # the CLI on the venv's PATH, and its version
    p = subprocess.run(["blendarray", "--version"], env=env, capture_output=True, text=True)
    assert p.stdout.strip() == f"blendarray {VERSION}", p.stdout + p.stderr
    out = tmp_path / "cli.npz"
    p = subprocess.run(["blendarray", "render", "-p", "rgba,depth", "-e", "workbench", "--size", "32x24",
                        "-q", "-o", str(out)], cwd=tmp_path, env=env, capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr
    with np.load(out) as z:
        assert z["rgba"].shape == (1, 24, 32, 4) and z["depth"].shape == (1, 24, 32)
        assert json.loads(z["meta.json"])[0]["blender_version"].split(".")[0] == blender_major


@pytest.mark.parametrize("minor", [10, 12])
def test_pip_install_from_the_checkout(tmp_path, minor):
    """`pip install /path/to/checkout` in a new venv of another CPython; Debian's Blender renders."""
    py = _venv(_need_python(minor), tmp_path / "venv")
    _pip(py, ROOT)
    venv = tmp_path / "venv"
    assert (venv / "bin" / "blendarray").exists()
    built = glob.glob(str(venv / "lib" / f"python3.{minor}" / "site-packages" / "blendarray" / "_core.*.so"))
    assert [os.path.basename(b) for b in built] == [f"_core.cpython-3{minor}-x86_64-linux-gnu.so"]
    _check_user_run(venv, tmp_path, _user_env(venv), "3")


def test_wheel_with_bpy_for_python_3_13(tmp_path):
    """`pip wheel` for Python 3.13, installed with the [bpy] extra (bpy 5.2); no
    blender on PATH, so bpy renders, in the venv's Python (the CLI's: beside it)."""
    py313 = _need_python(13)
    house = tmp_path / "wheels"
    p = subprocess.run([py313, "-m", "pip", "wheel", "--no-deps", "-w", str(house), ROOT],
                       capture_output=True, text=True, timeout=900)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    (wheel,) = glob.glob(str(house / f"blendarray-{VERSION}-cp313-cp313-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    for want in ["blendarray/__init__.py", "blendarray/_version.py", "blendarray/libblendarray.so",
                 "blendarray/_core.cpython-313-x86_64-linux-gnu.so", "blendarray/blender/worker_main.py",
                 f"blendarray-{VERSION}.data/scripts/blendarray"]:
        assert want in names, (want, names)
    # the C library's files for C programs (header, static library, pkg-config) stay out
    assert not [n for n in names if n.endswith((".h", ".a", ".pc"))], names
    py = _venv(py313, tmp_path / "venv")
    _pip(py, f"{wheel}[bpy]")
    venv = tmp_path / "venv"
    no_blender = tmp_path / "nothing"
    no_blender.mkdir()
    # PATH: the venv, then the basics (sh for pip's own needs), but no `blender`
    env = _user_env(venv, os.pathsep.join([str(no_blender), "/usr/bin", "/bin"]))
    if shutil.which("blender", path=env["PATH"]):
        env["PATH"] = os.pathsep.join([str(venv / "bin"), str(no_blender)])
    _check_user_run(venv, tmp_path, env, "5")


@pytest.fixture(scope="module")
def c_install(tmp_path_factory):
    """`meson install` of a C build (Python disabled) to a new prefix, meson's
    default layout (the libraries in lib/<multiarch> on Debian): (prefix, libdir)."""
    meson = os.path.join(os.path.dirname(sys.executable), "meson")
    tmp = tmp_path_factory.mktemp("c-install")
    prefix, build = tmp / "prefix", tmp / "build"
    for cmd in ([meson, "setup", str(build), ROOT, f"--prefix={prefix}", "-Dpython=disabled",
                 "-Dtests=false"], [meson, "install", "-C", str(build)]):
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
        assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    found = glob.glob(str(prefix / "lib*" / "**" / "libblendarray.so"), recursive=True)
    assert len(found) == 1, found
    return prefix, Path(os.path.dirname(found[0]))


def _build_use_installed(prefix, libdir, exe, *extra):
    """tests/c/use_installed.c built as a user builds it: pkg-config's flags."""
    env = dict(os.environ, PKG_CONFIG_PATH=str(libdir / "pkgconfig"))
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "blendarray"], env=env,
                           capture_output=True, text=True, check=True).stdout.split()
    p = subprocess.run(["cc", "-Wall", "-Wextra", "-Werror", os.path.join(ROOT, "tests", "c", "use_installed.c"),
                        "-o", str(exe), *flags, *extra], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr


def test_c_library_installs_like_a_c_library(c_install, tmp_path):
    """`meson install` puts the header, the libraries and blendarray.pc under the
    prefix; a C program builds against them with pkg-config and runs. The soname
    says which releases are binary compatible: 0.MINOR while 0.x."""
    prefix, libdir = c_install
    assert (prefix / "include" / "blendarray.h").exists()
    assert (prefix / "include" / "blendarray_version.h").exists()
    assert (libdir / "libblendarray.a").exists()
    assert (prefix / "bin" / "blendarray").exists()
    major, minor, _ = VERSION.split(".")
    soname = f"libblendarray.so.{major}" if major != "0" else f"libblendarray.so.0.{minor}"
    dyn = subprocess.run(["objdump", "-p", str(libdir / "libblendarray.so")], capture_output=True,
                         text=True, check=True).stdout
    assert re.search(r"SONAME\s+(\S+)", dyn).group(1) == soname, dyn
    assert (libdir / soname).exists()
    pc = (libdir / "pkgconfig" / "blendarray.pc").read_text()
    assert "URL:" not in pc and "github" not in pc, pc  # no made-up project address
    exe = tmp_path / "use_installed"
    _build_use_installed(prefix, libdir, exe, f"-Wl,-rpath,{libdir}")
    ldd = subprocess.run(["ldd", str(exe)], capture_output=True, text=True).stdout
    assert str(libdir / soname) in ldd, ldd  # the installed copy, shared
    p = subprocess.run([str(exe), str(tmp_path / "out.npy")], capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip() == f"blendarray {VERSION}", p.stdout + p.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npy"),
                                  np.array([[0.5, 1.5, 2.5], [-1, 0, 42]], np.float32))


def _not_flat(rgba, shape):
    assert rgba.shape == shape and rgba.dtype == np.float32, (rgba.shape, rgba.dtype)
    assert np.isfinite(rgba).all()
    assert rgba[..., :3].std() > 0.01, "a flat image: nothing was rendered"
    assert (rgba[..., 3] > 0).any()


def test_c_install_renders_with_no_environment_variable(c_install, tmp_path):
    """The C install renders: a C program built with pkg-config, run with no
    BLENDARRAY_* variable and only LD_LIBRARY_PATH to find the library, renders
    the built-in demo scene with Debian's Blender (the installed package files
    under <prefix>/share, the library the program loaded); so does the installed
    `blendarray render`. Without those files, both say what to reinstall."""
    prefix, libdir = c_install
    share = prefix / "share" / "blendarray" / "python" / "blendarray"
    assert (share / "blender" / "worker_main.py").exists()
    assert f'version = "{VERSION}"' in (share / "_version.py").read_text()
    assert not list(share.glob("*.c")) and not list(share.glob("*.so"))  # Python files only
    exe = tmp_path / "use_installed"
    _build_use_installed(prefix, libdir, exe)  # no rpath: LD_LIBRARY_PATH finds it
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = user_env(LD_LIBRARY_PATH=str(libdir), TMPDIR=str(tmp))
    settings = json.dumps({"resolution": [32, 24], "samples": 1, "passes": ["rgba"]})
    p = subprocess.run([str(exe), str(tmp_path / "rgba.npy"), settings], env=env,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    _not_flat(np.load(tmp_path / "rgba.npy"), (24, 32, 4))
    # the installed command (statically linked): no environment variable either
    cli = prefix / "bin" / "blendarray"
    out = tmp_path / "cli.npz"
    p = subprocess.run([str(cli), "render", "-p", "rgba", "-s", "1", "--size", "32x24", "-q",
                        "-o", str(out)], env=user_env(TMPDIR=str(tmp)), cwd=tmp_path,
                       capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr
    with np.load(out) as z:
        _not_flat(z["rgba"][0], (24, 32, 4))
        assert json.loads(z["meta.json"])[0]["blender_version"].split(".")[0] == "3"
    assert os.listdir(tmp) == []  # the workers' folders are gone
    # no package files: each says what to do, and the C install's command not pip
    moved = tmp_path / "moved"
    os.rename(share.parent.parent, moved)
    try:
        p = subprocess.run([str(exe), str(tmp_path / "none.npy"), settings], env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 1 and "BA_OPT_PACKAGE_DIR" in p.stderr, p.stderr
        assert str(share) in p.stderr and "meson install" in p.stderr, p.stderr
        p = subprocess.run([str(cli), "render", "-p", "rgba", "-o", str(tmp_path / "none.npz")],
                           env=user_env(TMPDIR=str(tmp)), capture_output=True, text=True,
                           timeout=60)
        assert p.returncode == 1, p.stderr
        assert "meson install" in p.stderr and "pip install" not in p.stderr, p.stderr
        assert "BLENDARRAY_PACKAGE" in p.stderr, p.stderr
    finally:
        os.rename(moved, share.parent.parent)


def test_missing_development_files_are_named(tmp_path):
    """No OpenEXR/libpng/libzip/jansson .pc files (no -dev packages): pip's build
    stops at once with the packages to install, and nothing is installed."""
    py = _venv(sys.executable, tmp_path / "venv")
    empty = tmp_path / "no-pc-files"
    empty.mkdir()
    env = dict(_user_env(tmp_path / "venv"), PKG_CONFIG_LIBDIR=str(empty), PKG_CONFIG_PATH="")
    p = _pip(py, ROOT, env=env, check=False)
    out = p.stdout + p.stderr
    assert p.returncode != 0
    assert ("apt-get install libopenexr-dev libpng-dev libzip-dev libjansson-dev" in out), out[-4000:]
    assert not glob.glob(str(tmp_path / "venv" / "lib" / "python3.*" / "site-packages" / "blendarray*"))
