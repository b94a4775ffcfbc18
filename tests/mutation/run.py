"""Mutation check: put each deliberate bug of mutants.py into a copy of the
checkout, run the tests that must catch it, and report caught / missed.

    .venv/bin/python tests/mutation/run.py            # every mutant
    .venv/bin/python tests/mutation/run.py rect-flat-learned-from-1ch crash-report-name
    .venv/bin/python tests/mutation/run.py --list
    .venv/bin/python tests/mutation/run.py --jobs 1   # one mutant at a time

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
"""
import argparse
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

from mutants import MUTANTS  # noqa: E402

sys.path.insert(0, os.path.join(ROOT, "tests", "python"))
from support import runtime_targets  # noqa: E402

TREES = os.path.join(ROOT, "build", "mutation")


def _skip(folder, names):
    top = {".venv", ".git", "out", "scenes", "build"} if os.path.samefile(folder, ROOT) else set()
    return {n for n in names if n in top or n == "__pycache__" or n.endswith(".npz")}


def _fresh_tree(python, tree):
    """tree: the checkout's sources (copied anew: new mtimes, so ninja rebuilds
    what changed) and a configured meson build folder, built."""
    if os.path.isdir(tree):
        for n in os.listdir(tree):
            if n != "build":
                p = os.path.join(tree, n)
                shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.remove(p)
    shutil.copytree(ROOT, tree, ignore=_skip, symlinks=True, dirs_exist_ok=True,
                    copy_function=shutil.copy)
    build = os.path.join(tree, "build", "dev")
    meson = os.path.join(os.path.dirname(python), "meson")
    if not os.path.exists(os.path.join(build, "build.ninja")):
        subprocess.run([meson, "setup", build, "-Dwerror=true", "-Dtests=true", "-Dpython=enabled"],
                       cwd=tree, check=True, capture_output=True)
    b = subprocess.run(["ninja", "-C", build, *runtime_targets(build)], capture_output=True,
                       text=True)
    if b.returncode != 0:
        raise SystemExit(f"the unmutated tree does not build:\n{b.stdout[-3000:]}")


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
    jobs = max(1, min(args.jobs, len(chosen)))
    trees = [os.path.join(TREES, f"tree-{i}") for i in range(jobs)]
    for tree in trees:
        _fresh_tree(python, tree)

    todo = queue.Queue()
    for m in chosen:
        todo.put(m)
    results, out_lock = {}, threading.Lock()

    def work(tree):
        while True:
            try:
                m = todo.get_nowait()
            except queue.Empty:
                return
            t0 = time.time()
            verdict, out = run_one(m, python, tree)
            with out_lock:
                results[m["id"]] = verdict
                print(f"{verdict:16s} {m['id']:34s} {time.time() - t0:6.1f} s  {m['promise']}",
                      flush=True)
                if args.verbose or verdict != "caught":
                    print("    " + out.strip().replace("\n", "\n    "), flush=True)

    threads = [threading.Thread(target=work, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    caught = sum(v.startswith("caught") for v in results.values())
    print(f"mutants: {caught} caught, {len(chosen) - caught} not caught, of {len(chosen)}")
    return 0 if caught == len(chosen) and len(results) == len(chosen) else 1


if __name__ == "__main__":
    sys.exit(main())
