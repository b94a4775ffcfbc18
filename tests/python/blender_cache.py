"""What the tests make with Blender (scenes, Blender's own reference renders), made
once and kept on disk, never stale.

An entry is the folder of files one script wrote when a Blender ran it. It is
found by a key over everything that decides those files:
- the Blender: its version, and the size and time of its binary (or bpy module),
  so that another or an upgraded Blender makes its own entries;
- the script's text, its arguments, and the contents of its input files;
- the files of the checkout the run used (traced.py lists every module it
  imported and every library it mapped, under ROOT and the package folder): an
  entry is used only while each of them still has the contents it had, so a
  change to `blendarray.blender.scenes` (or a mutant put into it) rebuilds the
  scenes that use it. Entries of other contents stay beside it (the mutation
  check's tree and the checkout do not push each other's out).
Entries are made in a temporary folder and renamed into place when complete; one
not used for CACHE_DAYS days is removed. `BLENDARRAY_TEST_CACHE` names the cache
(default ~/.cache/blendarray/tests); `BLENDARRAY_TEST_CACHE=off` makes every
entry anew in a temporary folder (nothing kept).
"""
import glob
import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

CACHE_DAYS = 14
SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "blender_scripts")
TRACED = os.path.join(SCRIPTS, "traced.py")


def cache_dir():
    d = os.environ.get("BLENDARRAY_TEST_CACHE")
    if d == "off":
        return None
    return d or os.path.join(os.path.expanduser("~"), ".cache", "blendarray", "tests")


class Out(str):
    """An argument naming a file the script writes (Out("ref.exr")), or the folder
    itself (Out(".")): given to the script inside the entry's folder."""


class In(str):
    """An argument naming an input file: its contents are part of the key."""


def file_hash(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_identity(path):
    """A file's path, size and modification time: what changes when a package
    manager replaces it."""
    real = os.path.realpath(path)
    st = os.stat(real)
    return f"{real}:{st.st_size}:{st.st_mtime_ns}"


def blender_identity(flavour, extra_flavours, version):
    """What names one Blender exactly: its version and its binary's (or bpy module's)
    identity. `version` is the flavour's Blender version string."""
    if flavour == "blender":
        binary = shutil.which("blender")
    elif flavour in extra_flavours:
        venv = extra_flavours[flavour].venv
        found = sorted(glob.glob(os.path.join(venv, "lib", "python3.*", "site-packages", "bpy",
                                              "__init__*.so")))
        binary = found[0] if found else extra_flavours[flavour].python
    else:
        spec = importlib.util.find_spec("bpy")
        binary = spec.origin if spec and spec.origin else sys.executable
    return f"{flavour} {version} {file_identity(binary)}"


def _key(identity, script, args):
    h = hashlib.sha256()
    h.update(identity.encode() + b"\0")
    h.update(file_hash(script).encode() + b"\0")
    for a in args:
        if isinstance(a, Out):
            h.update(b"out:" + a.encode())
        elif isinstance(a, In):
            h.update(b"in:" + file_hash(a).encode())
        else:
            h.update(b"arg:" + str(a).encode())
        h.update(b"\0")
    return h.hexdigest()[:32]


def _rel(path, roots):
    """(root index, path relative to it) of the first root that holds path; None for
    a path outside them or in a hidden folder (.venv: the Blender's own files)."""
    for i, r in enumerate(roots):
        r = os.path.realpath(r) + os.sep
        if path.startswith(r):
            rel = path[len(r):]
            return None if rel.startswith(".") else (i, rel)
    return None


def _still_valid(entry, roots):
    try:
        with open(os.path.join(entry, "deps.json")) as f:
            deps = json.load(f)
    except (OSError, ValueError):
        return False
    for i, rel, digest in deps["deps"]:
        p = os.path.join(roots[i], rel)
        if not os.path.isfile(p) or file_hash(p) != digest:
            return False
    return True


def _prune(top):
    """Remove entries (and left-over temporary folders) unused for CACHE_DAYS."""
    old = time.time() - CACHE_DAYS * 86400
    for d in glob.glob(os.path.join(top, "*")):
        try:
            if os.stat(d).st_mtime < old:
                shutil.rmtree(d, ignore_errors=True)
        except OSError:
            pass


class Run:
    """The result of blender_output: `path` (the entry's folder), `made` (whether
    Blender ran this time)."""

    def __init__(self, path, made):
        self.path, self.made = path, made

    def __truediv__(self, name):
        return os.path.join(self.path, name)


_pruned = set()


def blender_output(cmd_for, identity, script, args, roots, env=None, timeout=600):
    """Run `script` with `args` in a Blender (cmd_for(script, *args) is the command
    line) unless a valid entry for them exists; return a Run.

    roots: the folders whose files the run may depend on (ROOT, the package).
    """
    script = os.path.abspath(script)
    key = _key(identity, script, args)
    top = cache_dir()
    if top is not None:
        os.makedirs(top, exist_ok=True)
        if top not in _pruned:
            _pruned.add(top)
            _prune(top)
        for entry in sorted(glob.glob(os.path.join(top, key + "-*"))):
            if _still_valid(entry, roots):
                os.utime(entry)  # used: kept another CACHE_DAYS
                return Run(entry, False)
        work = tempfile.mkdtemp(prefix=f".{key}.", dir=top)
    else:
        work = tempfile.mkdtemp(prefix="blender-run-")
    try:
        deps_out = os.path.join(work, "deps.txt")
        real = [os.path.normpath(os.path.join(work, a)) if isinstance(a, Out) else str(a)
                for a in args]
        cmd = cmd_for(TRACED, deps_out, os.pathsep.join(roots), script, *real)
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
        if p.returncode != 0:
            raise AssertionError(f"{os.path.basename(script)} failed in {identity} (exit "
                                 f"{p.returncode}):\n{p.stdout[-3000:]}\n{p.stderr[-3000:]}")
        with open(deps_out) as f:
            used = [line.rstrip("\n") for line in f if line.strip()]
        os.remove(deps_out)
        deps = []
        for path in used:
            where = _rel(path, roots)
            if where is not None:
                deps.append([where[0], where[1], file_hash(path)])
        with open(os.path.join(work, "deps.json"), "w") as f:
            json.dump({"identity": identity, "script": script, "args": [str(a) for a in args],
                       "deps": deps}, f, indent=1)
        if top is None:
            return Run(work, True)
        digest = hashlib.sha256(json.dumps(deps).encode()).hexdigest()[:16]
        final = os.path.join(top, f"{key}-{digest}")
        try:
            os.rename(work, final)
        except OSError:  # made meanwhile by another run: theirs is as good
            shutil.rmtree(work, ignore_errors=True)
        return Run(final, True)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
