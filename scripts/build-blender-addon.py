#!/usr/bin/env python3
"""Build blendarray's Blender add-on zips from a complete blendarray package.

    python3 scripts/build-blender-addon.py --package DIR --out OUTDIR

DIR is a built `blendarray` package folder: its .py files, blender/ and
libblendarray.so (the package in a build tree, or an installed
site-packages/blendarray). Writes, each under a temporary name renamed when
complete:

  OUTDIR/blendarray-<version>-extension.zip  Blender 4.2+ extension:
      blender_manifest.toml, the add-on's __init__.py, vendor/blendarray/...
      blender --command extension install-file -r user_default -e <zip>
      (or Preferences > Get Extensions > Install from Disk)
  OUTDIR/blendarray-<version>-addon.zip      legacy add-on, for Blender 3.4 to 4.1:
      blendarray_addon/__init__.py, blendarray_addon/vendor/blendarray/...
      (Preferences > Add-ons > Install, or bpy.ops.preferences.addon_install)

The bundled package is the in-Blender side and what it imports: every .py
file and libblendarray.so (loaded with ctypes, so any Python a Blender embeds
can use it); no __pycache__, no CPython extension (_core*.so), no C sources.
The version is read from the package's _version.py or __init__.py without
importing it. Python standard library only.
"""
import argparse
import ast
import os
import re
import sys
import tempfile
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ADDON = os.path.join(ROOT, "blender_addon")
LEGACY_FOLDER = "blendarray_addon"  # not "blendarray": that name is the bundled package's
VENDOR = "vendor"
LIB = "libblendarray.so"
BL_INFO_VERSION = '    "version": (0, 0, 0),'
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # fixed: the same inputs give the same zips


class BuildError(Exception):
    pass


def _literal_version(path, names):
    """The string assigned to one of `names` at the top level of `path`, or None."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id in names for t in targets):
                v = node.value
                if isinstance(v, ast.Constant) and isinstance(v.value, str):
                    return v.value
    return None


def package_version(package):
    """__version__ of the package in folder `package`: from a generated _version.py
    (`version = "x"` or `__version__ = "x"`), else a literal in __init__.py."""
    vfile = os.path.join(package, "_version.py")
    if os.path.isfile(vfile):
        v = _literal_version(vfile, ("__version__", "version"))
        if v:
            return v
    v = _literal_version(os.path.join(package, "__init__.py"), ("__version__",))
    if v:
        return v
    raise BuildError(f"cannot read the version of the package in {package}: neither _version.py "
                     "nor __init__.py assigns it a string literal (is it a built package? the "
                     "build generates _version.py)")


def version_tuple(version):
    """bl_info's version: the leading numbers, (0, 2, 0) for "0.2.0.dev3+g1234"."""
    nums = []
    for part in version.split("."):
        m = re.match(r"\d+", part)
        if not m:
            break
        nums.append(int(m.group()))
        if len(nums) == 3 or m.group() != part:
            break
    if not nums:
        raise BuildError(f"version {version!r} does not start with a number")
    return tuple((nums + [0, 0])[:3])


def semver(version):
    """The manifest's version must be semantic: "0.2.0.dev3+g1" becomes "0.2.0-dev3+g1"."""
    m = re.match(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(.*)$", version)
    if not m:
        raise BuildError(f"version {version!r} does not start with a number")
    core = ".".join(str(int(x or 0)) for x in m.group(1, 2, 3))
    rest = m.group(4)
    local = ""
    if "+" in rest:
        rest, local = rest.split("+", 1)
        local = "+" + re.sub(r"[^0-9A-Za-z.-]", "-", local)
    rest = rest.lstrip(".-_")
    pre = "-" + re.sub(r"[^0-9A-Za-z.-]", "-", rest) if rest else ""
    return core + pre + local


def package_files(package):
    """(path on disk, path inside the package) of every file the add-on bundles."""
    for need in ("__init__.py", os.path.join("blender", "__init__.py"), LIB):
        if not os.path.isfile(os.path.join(package, need)):
            raise BuildError(f"{package} is not a complete blendarray package: it has no {need}"
                             + (" (build the C library first)" if need == LIB else ""))
    out = []
    for folder, dirs, files in os.walk(package):
        # __pycache__, hidden folders, meson's object folders (*.p)
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith(".")
                         and not d.endswith(".p"))
        rel_folder = os.path.relpath(folder, package)
        for name in sorted(files):
            rel = name if rel_folder == "." else os.path.join(rel_folder, name)
            if name.endswith(".py") or name == "py.typed" or rel == LIB:
                out.append((os.path.join(folder, name), rel.replace(os.sep, "/")))
    return out


def _add(z, arcname, data, mode=0o644):
    info = zipfile.ZipInfo(arcname, ZIP_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = (0o100000 | mode) << 16
    z.writestr(info, data)


def _write_zip(dest, members):
    """members: [(arcname, bytes, mode)]; written to a temporary name, then renamed."""
    folder = os.path.dirname(os.path.abspath(dest))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(dest) + ".", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            with zipfile.ZipFile(f, "w") as z:
                for arcname, data, mode in members:
                    _add(z, arcname, data, mode)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def build(package, out):
    package = os.path.abspath(package)
    version = package_version(package)
    init = _read(os.path.join(ADDON, "__init__.py")).decode("utf-8")
    line = re.findall(rf"^{re.escape(BL_INFO_VERSION)}.*$", init, re.M)
    if len(line) != 1:
        raise BuildError(f"blender_addon/__init__.py must have a line {BL_INFO_VERSION!r} once")
    init = init.replace(line[0], f'    "version": {version_tuple(version)!r},')
    manifest = _read(os.path.join(ADDON, "blender_manifest.toml")).decode("utf-8")
    if manifest.count("@VERSION@") != 1:
        raise BuildError("blender_addon/blender_manifest.toml must hold @VERSION@ once")
    manifest = manifest.replace("@VERSION@", semver(version))

    bundled = [(f"{VENDOR}/blendarray/{rel}", _read(src), 0o755 if rel.endswith(".so") else 0o644)
               for src, rel in package_files(package)]
    addon = [("__init__.py", init.encode("utf-8"), 0o644)] + bundled

    os.makedirs(out, exist_ok=True)
    ext_zip = os.path.join(out, f"blendarray-{version}-extension.zip")
    legacy_zip = os.path.join(out, f"blendarray-{version}-addon.zip")
    _write_zip(ext_zip, [("blender_manifest.toml", manifest.encode("utf-8"), 0o644)] + addon)
    _write_zip(legacy_zip, [(f"{LEGACY_FOLDER}/{a}", d, m) for a, d, m in addon])
    return version, ext_zip, legacy_zip


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--package", required=True,
                    help="a complete blendarray package folder (with libblendarray.so)")
    ap.add_argument("--out", required=True, help="folder to write the zips into")
    args = ap.parse_args(argv)
    try:
        _, ext_zip, legacy_zip = build(args.package, args.out)
    except (BuildError, OSError) as e:
        print(f"build-blender-addon: {e}", file=sys.stderr)
        return 1
    print(ext_zip)
    print(legacy_zip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
