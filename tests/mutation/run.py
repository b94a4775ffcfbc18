"""Mutation check: put each deliberate bug of mutants.py into a copy of the
checkout, run the tests that must catch it, and report caught / missed.

    .venv/bin/python tests/mutation/run.py            # every mutant
    .venv/bin/python tests/mutation/run.py rect-flat-learned-from-1ch crash-report-name
    .venv/bin/python tests/mutation/run.py --list
    .venv/bin/python tests/mutation/run.py --jobs 1   # one mutant at a time
    .venv/bin/python tests/mutation/run.py --full     # every one, whatever the cache holds

A mutant is caught when its tests fail (a pytest test or clean-up check fails, or
the C tests do), crash the test's own process, or hang (a test command still
running after the mutant's "timeout", default 600 s, is stopped with everything it
started); a test that cannot start (a fixture or collection error, no test
selected) counts as an error, not as caught. Exit status: 0 when every mutant
was caught, 1 otherwise. The checkout itself is never modified: the mutants go
into copies of its sources, build/mutation/tree-<N> (one per job: --jobs, default
the number of cores, so that one mutant's Blender starts while another's renders),
each with its own meson build folder (tree-<N>/build/dev, kept between runs: a
mutant rebuilds only what it touched, and only the library, the CLI and the
Python package: a mutant whose test is a C test builds that test). Its tests
import that tree's package (PYTHONPATH, with the .venv's editable install of the
checkout switched off) and run its CLI. Each pytest has its own TMPDIR
(tests/conftest.py), so two mutants' Ray clusters (free ports, their own session
folders) and Blenders do not meet.

Results are cached (~/.cache/blendarray/mutation, or BLENDARRAY_MUTATION_CACHE;
"off" keeps none): a mutant caught before is not run again while its key is
unchanged. The key is a SHA-256 of everything that can plausibly decide its
outcome, erring on the side of running it again:
- the mutant's definition (its id, promise, edits, tests, timeout);
- the runner's rules (the source of this file's functions that copy, edit,
  build and judge), the Python version, the Blenders (scripts/blenders.txt, the
  `blender` binary's size and time), pyproject.toml, scripts/install.sh, the
  top meson.build and meson.options;
- the files it edits, and the sources of their layer (LAYERS: src/ and include/
  for the C library; cli/, src/ and include/ for the CLI; python/ for the
  package; blender_addon/ and python/ for the add-on; nothing more for a file of
  tests/, whose helpers are in below; a file anywhere else: the whole checkout);
- what its tests run: each test file or folder it names; for pytest, python/,
  tests/conftest.py and every file of tests/python, tests/cli and tests/scenes
  that is not a test_*.py (conftest, support, the Blender cache, the scripts);
  with a tests/cli test, cli/; with any other command (the C tests, the fuzz
  replayers, make): tests/c/, fuzz/ and the Makefile.
So a Python mutant's key does not see src/ (a library change that makes its
tests miss it waits for the rotation): each run also runs again the cached
mutants verified longest ago, about --rotate seconds of them (default 60, by
their last run times), so every one is verified again within a few runs.
Missed mutants and errors are never cached. --full ignores the cache (runs
every chosen mutant; the results are still recorded); naming ids runs them
whatever the cache says. Entries not verified for 30 days are removed.
"""
import argparse
import hashlib
import inspect
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from mutants import MUTANTS  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from support import runtime_targets  # noqa: E402

TREES = os.path.join(ROOT, "build", "mutation")

# -- the result cache (see the docstring: what a key holds, and why) -------------------------

CACHE_DAYS = 30  # an entry not verified for this long is removed
# The sources of an edited file's layer, by its top folder ("" : the whole checkout).
LAYERS = {"src": ("src", "include"), "include": ("src", "include"),
          "cli": ("cli", "src", "include"), "python": ("python",),
          "blender_addon": ("blender_addon", "python"), "tests": ()}
# In every key: the dependencies, the Blenders, the build's definition.
KEY_ALWAYS = ("pyproject.toml", "scripts/install.sh", "scripts/blenders.txt", "meson.build",
              "meson.options")
_PATH_WORD = re.compile(r"(?:tests|fuzz)/[\w./-]+")


def cache_dir():
    """The cache folder, or None when BLENDARRAY_MUTATION_CACHE=off."""
    d = os.environ.get("BLENDARRAY_MUTATION_CACHE")
    if d == "off":
        return None
    return d or os.path.join(os.path.expanduser("~"), ".cache", "blendarray", "mutation")


class Keys:
    """Mutants' cache keys over one state of the checkout (each file read once)."""

    def __init__(self, root=ROOT):
        self.root = root
        self._files = {}
        blender = shutil.which("blender")
        st = os.stat(blender) if blender else None
        runner = "".join(inspect.getsource(f) for f in (_skip, _fresh_tree, _sync, _edit, run_one,
                                                         _run, _test))
        self._base = json.dumps([sys.version, runner, blender,
                                 st and (st.st_size, st.st_mtime_ns)]).encode()

    def _walk(self, rel):
        """The files under rel (a file or a folder; none when absent), relative, sorted."""
        top = os.path.join(self.root, rel) if rel else self.root
        if os.path.isfile(top):
            return [rel]
        out = []
        for d, dirs, names in os.walk(top):
            skip = _skip(d, dirs + names, self.root)
            dirs[:] = sorted(n for n in dirs if n not in skip)
            out += [os.path.relpath(os.path.join(d, n), self.root) for n in names
                    if n not in skip and not n.endswith(".pyc")]
        return sorted(out)

    def _digest(self, rel):
        if rel not in self._files:
            try:
                with open(os.path.join(self.root, rel), "rb") as f:
                    self._files[rel] = hashlib.sha256(f.read()).hexdigest()
            except OSError:  # absent (or a dangling link): that is part of the state too
                self._files[rel] = "-"
        return self._files[rel]

    def inputs(self, m):
        """The files and folders (relative) whose contents are in m's key."""
        out = set(KEY_ALWAYS)
        pytest = cli = other = False
        for cmd in m["tests"]:
            if cmd[0] == "pytest":
                pytest = True
                words = [a.split("::")[0] for a in cmd[1:] if not a.startswith("-")]
            else:
                other = True
                words = _PATH_WORD.findall(" ".join(cmd))
            for w in words:
                if os.path.exists(os.path.join(self.root, w)):
                    out.add(os.path.normpath(w))
                    cli = cli or w.startswith("tests/cli")
        if pytest:
            out |= {"python", "tests/conftest.py", "tests/scenes"}
            for folder in ("tests/python", "tests/cli"):
                for rel in self._walk(folder):
                    if not os.path.basename(rel).startswith("test_"):
                        out.add(rel)
        if cli:
            out.add("cli")
        if other:
            out |= {"tests/c", "fuzz", "Makefile"}
        for path, *_ in m["edits"]:
            out.add(path)
            top = path.split("/")[0] if "/" in path else ""
            out.update(LAYERS.get(top, ("",)))
        return out

    def key(self, m):
        h = hashlib.sha256(self._base)
        h.update(json.dumps({k: v for k, v in sorted(m.items())}, sort_keys=True).encode())
        files = sorted({f for rel in self.inputs(m) for f in self._walk(rel)} |
                       {rel for rel in self.inputs(m) if not os.path.exists(os.path.join(self.root, rel))})
        for f in files:
            h.update(f"\0{f}\0{self._digest(f)}".encode())
        return h.hexdigest()


def cache_read(folder, key):
    """The cached entry of key (verdict, verified, seconds), or None."""
    try:
        with open(os.path.join(folder, key + ".json")) as f:
            e = json.load(f)
        return e if e.get("verdict", "").startswith("caught") else None
    except (OSError, ValueError):
        return None


def cache_write(folder, key, entry):
    """Record a caught mutant (atomically: a temporary file renamed)."""
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(entry, f)
        os.replace(tmp, os.path.join(folder, key + ".json"))
    except BaseException:
        os.unlink(tmp)
        raise


def cache_prune(folder):
    """Remove the entries not verified for CACHE_DAYS (and stray temporary files)."""
    old = time.time() - CACHE_DAYS * 86400
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for n in names:
        p = os.path.join(folder, n)
        try:
            if os.stat(p).st_mtime < (time.time() - 3600 if n.startswith(".tmp-") else old):
                os.unlink(p)
        except OSError:
            pass


def plan(chosen, keys, folder, full, rotate, jobs, named):
    """Which of `chosen` to run: (to_run, cached), each a list of (mutant, key, entry).
    Run: every one without a caught entry under its key, and with --full or named
    ids, every one; of the rest, the ones verified longest ago, until their last
    run times add up to `rotate` seconds per job; the others are cached."""
    with_keys = [(m, keys.key(m)) for m in chosen]
    if folder is None:
        return [(m, k, None) for m, k in with_keys], []
    entries = [(m, k, cache_read(folder, k)) for m, k in with_keys]
    run = [x for x in entries if x[2] is None or full or named]
    hit = sorted((x for x in entries if x not in run), key=lambda x: x[2].get("verified", 0))
    spent = 0.0
    while hit and spent < rotate * jobs:
        spent += hit[0][2].get("seconds", 10.0)
        run.append(hit.pop(0))
    return run, hit


TOP_SKIP = {".venv", ".git", "out", "scenes", "build"}  # of the checkout's top folder


def _skip(folder, names, root=ROOT):
    top = TOP_SKIP if os.path.samefile(folder, root) else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith(".npz")}


def _remove(p):
    shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)


def _same_file(a, b):
    """a and b are plain files with the same mode and bytes."""
    try:
        sa, sb = os.stat(a), os.stat(b)
    except OSError:
        return False
    if sa.st_size != sb.st_size or sa.st_mode != sb.st_mode:
        return False
    with open(a, "rb") as fa, open(b, "rb") as fb:
        while True:
            x, y = fa.read(1 << 20), fb.read(1 << 20)
            if x != y:
                return False
            if not x:
                return True


def _sync(src, dst, top=True, root=ROOT):
    """Make dst hold what src holds, as _skip filters it (dst's own build/ kept): a
    file with the same bytes and mode is left as it is, its time too, so that ninja
    rebuilds nothing for it; the others are copied anew (a new time: ninja rebuilds
    them; a tree left mutated by a stopped run is restored so); what src does not
    have is removed."""
    names = os.listdir(src)
    keep = set(names) - _skip(src, names, root)
    os.makedirs(dst, exist_ok=True)
    for n in os.listdir(dst):
        if n not in keep and not (top and n == "build"):
            _remove(os.path.join(dst, n))
    for n in sorted(keep):
        s, d = os.path.join(src, n), os.path.join(dst, n)
        if os.path.islink(s):
            if not (os.path.islink(d) and os.readlink(d) == os.readlink(s)):
                if os.path.lexists(d):
                    _remove(d)
                os.symlink(os.readlink(s), d)
        elif os.path.isdir(s):
            if os.path.lexists(d) and (os.path.islink(d) or not os.path.isdir(d)):
                _remove(d)
            _sync(s, d, top=False, root=root)
        elif not _same_file(s, d):
            if os.path.lexists(d):
                _remove(d)
            shutil.copy(s, d)


def _fresh_tree(python, tree):
    """tree: the checkout's sources (_sync: only what differs is copied, so ninja
    rebuilds only what changed) and a configured meson build folder, built."""
    _sync(ROOT, tree)
    build = os.path.join(tree, "build", "dev")
    meson = os.path.join(os.path.dirname(python), "meson")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        subprocess.run([meson, "setup", build, "-Dwerror=true", "-Dtests=true", "-Dpython=enabled"],
                       cwd=tree, check=True, capture_output=True)
    b = subprocess.run(["ninja", "-C", build, *runtime_targets(build)], capture_output=True,
                       text=True)
    if b.returncode != 0:
        raise SystemExit(f"the unmutated tree does not build:\n{b.stdout[-3000:]}")


def fresh_trees(python, trees):
    """_fresh_tree of each tree, at once (one thread each: a meson setup waits on its
    compiler checks while another builds); SystemExit names the trees that failed."""
    errors = []

    def one(tree):
        try:
            _fresh_tree(python, tree)
        except (Exception, SystemExit) as e:  # noqa: BLE001  (all said below)
            errors.append(f"{tree}: {e}")

    threads = [threading.Thread(target=one, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SystemExit("a mutation tree could not be set up:\n" + "\n".join(errors))


def _edit(root, m):
    """Apply m's edits (and its whole-file replacements, "replace": {path: text}, as
    generated.py makes them); return what to write back (path, original text)."""
    undo = []
    for path, text in m.get("replace", {}).items():
        p = os.path.join(root, path)
        with open(p) as f:
            undo.append((p, f.read()))
        with open(p, "w") as f:
            f.write(text)
    for path, old, new in m["edits"]:
        p = os.path.join(root, path)
        with open(p) as f:
            text = f.read()
        n = text.count(old)
        if n != 1:
            raise SystemExit(f"mutant {m['id']}: the text to replace occurs {n} times in {path} "
                             f"(must be once): update tests/mutation/mutants.py")
        undo.append((p, text))
        with open(p, "w") as f:
            f.write(text.replace(old, new))
    return undo


def run_one(m, python, tree):
    undo = _edit(tree, m)
    try:
        return _test(m, python, tree)
    finally:
        for p, text in reversed(undo):  # written anew (a new mtime): the next build undoes the
            # mutant; last edit first, so that a file edited twice ends as it was
            with open(p, "w") as f:
                f.write(text)


def _run(cmd, cwd, env, timeout):
    """subprocess.run(cmd), its output as text whatever its bytes; None when it ran
    past `timeout` seconds (then it and everything it started are killed)."""
    p = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        p.communicate()
        return None
    return subprocess.CompletedProcess(cmd, p.returncode, out.decode("utf-8", "replace"),
                                       err.decode("utf-8", "replace"))


def _test(m, python, tree):
    build = os.path.join(tree, "build", "dev")
    env = dict(os.environ, BLENDARRAY_REQUIRE_FLAVOURS="1", BLENDARRAY_MUTATION="1",
               PYTHONPATH=os.path.join(build, "python"),
               MESONPY_EDITABLE_SKIP=os.path.join(ROOT, "build", "dev"),
               PYTHON=python)  # for make, in the tree (which has no .venv)
    b = subprocess.run(["ninja", "-C", build, *runtime_targets(build)], env=env,
                       capture_output=True, text=True, errors="replace")
    if b.returncode != 0:
        # a mutant must build: one that does not tests nothing
        return "error (build)", b.stdout[-2000:] + b.stderr[-2000:]
    outs = []
    for cmd in m["tests"]:
        if cmd[0] == "pytest":
            cmd = [python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *cmd[1:]]
        limit = m.get("timeout", 600)
        if m.get("deadline") is not None:  # a sampler's time is up: not a verdict
            left = m["deadline"] - time.time()
            if left <= 0:
                return "unfinished", "\n".join(outs)
            limit = min(limit, left)
        p = _run(cmd, tree, env, limit)
        if p is None and limit < m.get("timeout", 600):
            outs.append(f"{' '.join(cmd)}: stopped at the sampler's deadline")
            return "unfinished", "\n".join(outs)
        if p is None:  # a mutant that hangs its tests is caught (CI would never finish)
            outs.append(f"{' '.join(cmd)}: no end after {limit} s, stopped")
            return "caught (timeout)", "\n".join(outs)
        outs.append(p.stdout[-3000:] + p.stderr[-2000:])
        if cmd[1:3] == ["-m", "pytest"] and p.returncode < 0:
            # the mutant crashed the test's own process (a NULL dereference in the
            # library it loaded): caught
            return f"caught (crash, signal {-p.returncode})", "\n".join(outs)
        if cmd[1:3] == ["-m", "pytest"] and p.returncode != 0:
            # caught only by a failing test (or a failing clean-up check), not by a
            # test that could not start
            if p.returncode != 1 or "ERROR at setup" in p.stdout or "ERROR collecting" in p.stdout:
                return f"error (exit {p.returncode})", "\n".join(outs)
        if p.returncode != 0:
            return "caught", "\n".join(outs)
    return "MISSED", "\n".join(outs)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("ids", nargs="*", help="mutant ids (default: all)")
    ap.add_argument("--list", action="store_true", help="list the mutants and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the tests' output")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="mutants at once, each in its own tree (default: the number of cores)")
    ap.add_argument("--full", action="store_true",
                    help="run every chosen mutant, whatever the cache holds (results still recorded)")
    ap.add_argument("--rotate", type=float, default=60, metavar="SECONDS",
                    help="also run the cached mutants verified longest ago, about this long "
                         "(default 60; 0: none)")
    args = ap.parse_args()
    if args.list:
        for m in MUTANTS:
            print(f"{m['id']:34s} {m['promise']}")
        return 0
    chosen = [m for m in MUTANTS if not args.ids or m["id"] in args.ids]
    unknown = set(args.ids) - {m["id"] for m in MUTANTS}
    if unknown:
        print(f"unknown mutant(s): {', '.join(sorted(unknown))}; see --list", file=sys.stderr)
        return 2
    stale = [f"{m['id']} ({path}: found {n} times)" for m in chosen for path, old, _ in m["edits"]
             if (n := open(os.path.join(ROOT, path)).read().count(old)) != 1]
    if stale:  # before minutes of runs: every edit must apply, exactly once
        print("mutants whose text to replace is not in the code exactly once (update "
              "tests/mutation/mutants*.py):\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    python = os.path.join(ROOT, ".venv", "bin", "python")
    folder = cache_dir()
    if folder is not None:
        cache_prune(folder)
    t_key = time.time()
    to_run, cached = plan(chosen, Keys(), folder, args.full, args.rotate, max(1, args.jobs),
                          bool(args.ids))
    fresh = sum(e is None for _, _, e in to_run)
    why = "" if args.full or args.ids else f", {len(to_run) - fresh} verified longest ago"
    print(f"mutation cache ({folder or 'off'}): {len(to_run)} to run ({fresh} new, changed or "
          f"not caught before{why}), {len(cached)} caught before with the same key, not run "
          f"({time.time() - t_key:.1f} s)", flush=True)
    if args.verbose:
        for m, _, e in cached:
            print(f"{'cached':16s} {m['id']:34s} verified "
                  f"{time.strftime('%Y-%m-%d %H:%M', time.localtime(e['verified']))}")
    # the longest first (by their last run, the new ones before all), so that no long
    # one starts last while the other trees are idle
    to_run.sort(key=lambda x: -(x[2] or {}).get("seconds", 1e9))
    jobs = max(1, min(args.jobs, len(to_run)))
    trees = [os.path.join(TREES, f"tree-{i}") for i in range(jobs)] if to_run else []

    todo = queue.Queue()
    for x in to_run:
        todo.put(x)
    results, out_lock, broken = {}, threading.Lock(), []

    def work(tree):
        try:  # each tree brought up to date by its own thread: the first mutants start sooner
            _fresh_tree(python, tree)
        except (Exception, SystemExit) as e:  # noqa: BLE001  (said below; the others go on)
            with out_lock:
                broken.append(f"{tree}: {e}")
            return
        while True:
            try:
                m, key, _ = todo.get_nowait()
            except queue.Empty:
                return
            t0 = time.time()
            verdict, out = run_one(m, python, tree)
            took = time.time() - t0
            if folder is not None and verdict.startswith("caught"):
                cache_write(folder, key, dict(id=m["id"], verdict=verdict, verified=time.time(),
                                              seconds=round(took, 1)))
            with out_lock:
                results[m["id"]] = verdict
                print(f"{verdict:16s} {m['id']:34s} {took:6.1f} s  {m['promise']}", flush=True)
                if args.verbose or verdict != "caught":
                    print("    " + out.strip().replace("\n", "\n    "), flush=True)

    threads = [threading.Thread(target=work, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if broken:
        print("a mutation tree could not be set up:\n" + "\n".join(broken), file=sys.stderr)
    caught = sum(v.startswith("caught") for v in results.values())
    print(f"mutants: {caught} caught, {len(to_run) - caught} not caught, of {len(to_run)} run; "
          f"{len(cached)} caught before (cached, not run), of {len(chosen)}")
    return 0 if not broken and caught == len(to_run) and len(results) == len(to_run) else 1


if __name__ == "__main__":
    sys.exit(main())
