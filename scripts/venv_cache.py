"""The .venv's dependencies, cached for scripts/install.sh: a new checkout's .venv
starts as a copy of one that pip finished before, so that pip has only blendarray
itself to build (a few seconds) instead of every wheel to unpack (a minute or two).

    python3 scripts/venv_cache.py key PIP_ARGUMENTS...   print the key of what pip installs
    python3 scripts/venv_cache.py restore KEY VENV       make VENV from the template
                                                         (exit 1: none to use; VENV absent)
    python3 scripts/venv_cache.py save KEY VENV          keep VENV, just installed, as KEY's
                                                         template (blendarray left out)

A template is ~/.cache/blendarray/venvs/<key>/ (BLENDARRAY_VENV_CACHE names the
folder; "off" keeps none): a virtual environment with every dependency installed
and blendarray not, and a manifest of its files (path, size, time). The key is a
SHA-256 of what decides what pip installs: the Python (its path and version),
the pip arguments install.sh passes (KEY's PIP_ARGUMENTS), pyproject.toml, and
pip's configuration (its files, the constraints files they name, the PIP_*
variables: where packages come from). install.sh then runs its pip commands as
on any existing .venv: a requirement the template lacks is installed.

restore makes hard links (no file's bytes are copied), then rewrites the files that
name the template's first place (bin/'s scripts, pyvenv.cfg: the files under 1 MiB,
.pyc left out, that hold it, listed in the manifest) as new files. A hard link
shares its file with the template: a program that wrote into a file of .venv in
place would change the template too, so restore first compares every template file
with the manifest (size and time) and removes a template that changed (saying which
file), and pip installs everything. A template is used for 7 days at most (then pip
installs everything again, so the unpinned dependencies' new releases come in), only
the 2 used last are kept, none unused for 14 days.
"""
import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time

KEEP, DAYS = 2, 14
MAX_AGE_DAYS = 7  # a template older than this is made anew: new releases of unpinned deps
MANIFEST = ".venv-cache.json"  # in a template: its first place, its files, those to rewrite
FORMAT = 1  # of the templates: a new format makes new templates


def cache_dir():
    d = os.environ.get("BLENDARRAY_VENV_CACHE")
    if d == "off":
        return None
    return d or os.path.join(os.path.expanduser("~"), ".cache", "blendarray", "venvs")


def _pip_config_files():
    """pip's configuration files (site, user, global, PIP_CONFIG_FILE), as pip reads them."""
    home = os.path.expanduser("~")
    xdg = os.environ.get("XDG_CONFIG_DIRS", "/etc/xdg").split(os.pathsep)
    out = ["/etc/pip.conf", *(os.path.join(d, "pip", "pip.conf") for d in xdg),
           os.path.join(os.environ.get("XDG_CONFIG_HOME", os.path.join(home, ".config")), "pip", "pip.conf"),
           os.path.join(home, ".pip", "pip.conf")]
    if os.environ.get("PIP_CONFIG_FILE"):
        out.append(os.environ["PIP_CONFIG_FILE"])
    return out


def key(args, root="."):
    h = hashlib.sha256(f"format {FORMAT}\n{sys.version}\n{os.path.realpath(sys.executable)}\n".encode())
    h.update(json.dumps(args).encode())
    with open(os.path.join(root, "pyproject.toml"), "rb") as f:
        h.update(f.read())
    named = []
    for path in _pip_config_files():
        try:
            with open(path, "rb") as f:
                text = f.read()
        except OSError:
            continue
        h.update(path.encode() + b"\0" + text)
        named += [line.split(b"=", 1)[1].strip() for line in text.splitlines()
                  if line.split(b"=", 1)[0].strip() in (b"constraint", b"requirement")]
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith("PIP_"))
    h.update(json.dumps(env).encode())
    named += [os.fsencode(v) for k, v in env if k in ("PIP_CONSTRAINT", "PIP_REQUIREMENT")]
    for path in named:
        for p in path.split():
            try:
                with open(p, "rb") as f:
                    h.update(p + b"\0" + f.read())
            except OSError:
                h.update(p + b"\0-")
    return h.hexdigest()[:24]


def _files(top):
    """(relative path, lstat) of everything under top, the manifest left out."""
    for d, dirs, names in os.walk(top):
        dirs.sort()
        for n in sorted(dirs + names):
            p = os.path.join(d, n)
            rel = os.path.relpath(p, top)
            if rel != MANIFEST:
                yield rel, os.lstat(p)


def _names(path, prefix):
    """The file at path holds the bytes of prefix (bin/'s scripts, pyvenv.cfg, ...)."""
    with open(path, "rb") as f:
        return prefix in f.read()


def save(k, venv):
    folder = cache_dir()
    if folder is None:
        return 0
    final = os.path.join(folder, k)
    if os.path.exists(os.path.join(final, MANIFEST)):
        return 0
    os.makedirs(folder, exist_ok=True)
    tmp = os.path.join(folder, f".tmp-{k}-{os.getpid()}")
    try:
        shutil.copytree(venv, tmp, symlinks=True, copy_function=os.link)
        # blendarray out: this checkout's editable install (the next one is another)
        if glob.glob(os.path.join(tmp, "lib", "python*", "site-packages", "blendarray-*.dist-info")):
            p = subprocess.run([os.path.join(tmp, "bin", "python"), "-m", "pip", "uninstall", "-y",
                                "-q", "blendarray"], capture_output=True, text=True)
            if p.returncode != 0:
                raise OSError(f"pip uninstall blendarray in the template failed: {p.stderr[-2000:]}")
        prefix = os.path.abspath(venv)
        files, rewrite = [], []
        for rel, st in _files(tmp):
            if os.path.isdir(os.path.join(tmp, rel)) and not os.path.islink(os.path.join(tmp, rel)):
                continue
            files.append((rel, st.st_size, st.st_mtime_ns))
            if (not os.path.islink(os.path.join(tmp, rel)) and not rel.endswith(".pyc")
                    and st.st_size < (1 << 20) and _names(os.path.join(tmp, rel), os.fsencode(prefix))):
                rewrite.append(rel)
        with open(os.path.join(tmp, MANIFEST), "w") as f:
            json.dump({"prefix": prefix, "saved": time.time(), "files": files, "rewrite": rewrite}, f)
        os.rename(tmp, final)
    except FileExistsError:  # another install saved it first
        shutil.rmtree(tmp, ignore_errors=True)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        print(f"venv_cache.py: the template was not saved ({e}); the next install runs pip in full",
              file=sys.stderr)
        return 0
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    print(f"venv_cache.py: saved {venv}'s dependencies as a template: {final}", file=sys.stderr)
    _prune(folder, keep=final)
    return 0


def _prune(folder, keep):
    """Keep the KEEP templates used last (keep among them), none unused for DAYS days."""
    found = []
    for n in os.listdir(folder):
        p = os.path.join(folder, n)
        try:
            t = os.stat(os.path.join(p, MANIFEST)).st_mtime if not n.startswith(".tmp-") else 0
        except OSError:
            t = 0
        if n.startswith(".tmp-") and time.time() - os.stat(p).st_mtime < 86400:
            continue  # another install's save, in progress
        found.append((p == keep, t, p))
    found.sort(reverse=True)
    for i, (is_kept, t, p) in enumerate(found):
        if not is_kept and (i >= KEEP or time.time() - t > DAYS * 86400):
            shutil.rmtree(p, ignore_errors=True)


def restore(k, venv):
    folder = cache_dir()
    if folder is None:
        return 1
    tpl = os.path.join(folder, k)
    try:
        with open(os.path.join(tpl, MANIFEST)) as f:
            man = json.load(f)
    except (OSError, ValueError):
        return 1
    if time.time() - man.get("saved", 0) > MAX_AGE_DAYS * 86400:
        print(f"venv_cache.py: the template {tpl} is over {MAX_AGE_DAYS} days old: removed; pip "
              "installs everything (the newest releases that pyproject.toml allows)", file=sys.stderr)
        shutil.rmtree(tpl, ignore_errors=True)
        return 1
    for rel, size, mtime in man["files"]:
        try:
            st = os.lstat(os.path.join(tpl, rel))
            changed = (st.st_size, st.st_mtime_ns) != (size, mtime)
        except OSError:
            changed = True
        if changed:
            print(f"venv_cache.py: the template {tpl} changed since it was saved ({rel}): removed; "
                  "pip installs everything", file=sys.stderr)
            shutil.rmtree(tpl, ignore_errors=True)
            return 1
    if os.path.lexists(venv):
        print(f"venv_cache.py: {venv} exists: not restored", file=sys.stderr)
        return 1
    tmp = f"{venv}.tmp-{os.getpid()}"
    try:
        shutil.copytree(tpl, tmp, symlinks=True, copy_function=os.link,
                        ignore=lambda d, names: [MANIFEST] if os.path.samefile(d, tpl) else [])
        old, new = os.fsencode(man["prefix"]), os.fsencode(os.path.abspath(venv))
        for rel in man["rewrite"]:
            p = os.path.join(tmp, rel)
            with open(p, "rb") as f:
                text = f.read()
            mode = os.stat(p).st_mode
            os.unlink(p)  # a new file: the template's stays as it is
            with open(p, "wb") as f:
                f.write(text.replace(old, new))
            os.chmod(p, mode)
        os.rename(tmp, venv)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    os.utime(os.path.join(tpl, MANIFEST))  # used: kept by _prune
    print(f"venv_cache.py: {venv} made from the template {tpl} (hard links)", file=sys.stderr)
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "key":
        print(key(argv[1:]))
        return 0
    if len(argv) == 3 and argv[0] in ("restore", "save"):
        return (restore if argv[0] == "restore" else save)(argv[1], argv[2])
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
