"""Generated mutants, sampled: universalmutator (a maintained, rule-based mutation
tool for C and Python) makes every mutant of the code of five areas, a seeded
sample of them goes through the tests of its area, and the score and the
survivors are printed. The hand-written mutants of mutants*.py stay: they are
the bugs we thought of; these are the ones nobody listed.

    .venv/bin/python tests/mutation/generated.py                 # --budget 90, seed = commit
    .venv/bin/python tests/mutation/generated.py --count 250 --all-areas --budget 0
    .venv/bin/python tests/mutation/generated.py --seed 7 --area labels --count 20
    .venv/bin/python tests/mutation/generated.py --list          # the areas and their mutants

A mutant is one universalmutator rule applied at one place of one file (an
operator swapped, a constant changed, a condition negated, a statement deleted,
a break inserted, ...). Before it is run it is compiled alone, as the build
compiles its file (the same compiler command; Python: byte-compiled):
- one that does not compile is stillborn (not counted: the build would refuse it);
- one whose object code (Python: code object) is byte for byte the original's is
  equivalent by Trivial Compiler Equivalence (not counted: no test can tell it);
- one listed in equivalent.txt (its key, with why no test can tell it) is not run.
The rest is put into a tree of run.py (a copy of the checkout with its own build),
built, and its area's tests run: it is killed when they fail, it survives when
they pass (run.py's rules: a test that cannot start is an error, not a kill).

The sample: every area's mutants shuffled by a seed (the commit's hash unless
--seed), dealt round-robin across the areas, run until --count mutants were run
or the --budget is spent. The budget is the whole run's time, its setup (the
mutants made, the trees brought up to date) included: no mutant starts in its
last GRACE (15) seconds, and one still running at its end is stopped and left
out (unfinished, no verdict), so the run ends within the budget. Areas whose tests
need a Ray cluster are left out unless --all-areas (a minute a mutant).

Exit status: 0 when the sample ran (whatever its score: a sample of a CI run is
a measurement; a survivor is triaged by adding a test, or by equivalent.txt);
1 with --min-score when the score is below it; 2 on bad arguments or a tree
that does not build.
"""
import argparse
import ast
import contextlib
import hashlib
import io
import json
import marshal
import os
import random
import re
import shlex
import subprocess
import sys
import tempfile
import threading
import time
import tokenize
import types

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import run as runner  # noqa: E402  (run.py: the trees, a mutant's build and tests)

BUILD = os.path.join(ROOT, "build", "dev")
# a test command of a mutant that runs longer than this (its area's take seconds) hangs:
# stopped, and the mutant counts as killed (a CI run would never end)
TIMEOUT = 90
# with --budget (the whole run's seconds): no mutant starts in its last GRACE seconds (a
# mutant's tests take seconds), and one still running at its end is stopped and left out
# (unfinished, no verdict)
GRACE = 15
EQUIVALENT = os.path.join(HERE, "equivalent.txt")


# LeakSanitizer's runtime alone, preloaded into a C test: a mutant that leaks (a
# free skipped, an error path that forgets what it allocated) fails it with exit 23
_LSAN = subprocess.run(["cc", "-print-file-name=liblsan.so.0"], capture_output=True,
                       text=True).stdout.strip()


def _c_test(name, env=""):
    """A C test of the tree's build, under LeakSanitizer, with `env` (shell words)."""
    pre = f"LD_PRELOAD={shlex.quote(_LSAN)} LSAN_OPTIONS=exitcode=23 " if os.path.isabs(_LSAN) else ""
    return ["sh", "-c", f"ninja -C build/dev tests/c/{name} >/dev/null && {pre}{env} build/dev/tests/c/{name}"]


# what meson test gives test_renderer: its rogue worker (Python) imports the tree's
# package (test_renderer takes LeakSanitizer out of the workers' environment)
RENDERER_ENV = ("BLENDARRAY_REPO=$PWD BLENDARRAY_LIB=$PWD/build/dev/python/blendarray/libblendarray.so "
                "ROGUE_PYTHONPATH=$PWD/build/dev/python")


def _pytest(*args):
    return ["pytest", *args]


# Each area: the files (with, where given, only the lines of these functions or
# classes) and the tests that must kill its mutants, fastest first (the first
# failing one decides).
AREAS = {
    "labels": dict(
        files={"src/labels.c": None, "src/coco.c": None},
        tests=[_c_test("test_labels"), _c_test("test_coco"), _c_test("test_nomem"),
               _pytest("tests/python/test_props_labels.py", "tests/python/test_labels_kernel.py",
                       "tests/python/test_coco.py", "-k", "not rendered_frames")]),
    "npy": dict(
        files={"src/npy.c": None, "src/npyread.c": None, "src/npystack.c": None, "src/npz.c": None},
        tests=[_c_test("test_npy"), _c_test("test_npyread"), _c_test("test_npystack"),
               _c_test("test_npz"), _c_test("test_nomem"), _pytest("tests/python/test_props_npy.py")]),
    "scheduling": dict(
        files={"src/renderer.c": None},
        tests=[_c_test("test_renderer", RENDERER_ENV),
               _pytest("tests/python/test_props_scheduling.py")]),
    "sharding": dict(
        files={"python/blendarray/torch.py": ["__len__", "set_epoch", "indices", "_count",
                                               "_rank_world", "__getstate__", "_params",
                                               "_distributed", "_check_shard"]},
        tests=[_pytest("tests/python/test_props_torch.py")]),
    "ray": dict(
        files={"python/blendarray/ray.py": ["_index_block", "__call__"]},
        tests=[_pytest("tests/python/test_ray.py", "-k", "rows_from_both or animation_frames")],
        slow=True),
    "frames": dict(
        files={"src/frames.c": None,
               "cli/render_args.c": ["cmp_i64", "has_repeats", "free_params", "read_params"],
               "cli/render_outputs.c": ["file_number"]},
        tests=[_c_test("test_frames"), _c_test("test_nomem"), _pytest("tests/cli/test_props_frames.py")]),
}


# -- the mutants ----------------------------------------------------------------------

def _c_ranges(text, names):
    """1-based line ranges of the C functions `names` (from the line that defines
    one to its closing brace at column 0)."""
    lines, out = text.split("\n"), []
    for name in names:
        starts = [i for i, line in enumerate(lines)
                  if line[:1].isalpha() and f" {name}(" in line and not line.rstrip().endswith(";")]
        if len(starts) != 1:
            raise SystemExit(f"generated.py: function {name} defined {len(starts)} times")
        end = next(j for j in range(starts[0], len(lines)) if lines[j] == "}")
        out.append((starts[0] + 1, end + 1))
    return out


def _py_ranges(text, names):
    found = {n.name: (n.lineno, n.end_lineno) for n in ast.walk(ast.parse(text))
             if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name in names}
    missing = set(names) - set(found)
    if missing:
        raise SystemExit(f"generated.py: no {', '.join(sorted(missing))} to mutate")
    return list(found.values())


def _blank_c_comments(text):
    """`text` with the characters of its C comments made spaces (lines kept), but
    the fall-through comments gcc's -Wimplicit-fallthrough reads: universalmutator
    skips every line on which a comment starts, so a line of code with a comment
    after it would never be mutated."""
    out, i, n = list(text), 0, len(text)
    while i < n:
        c = text[i]
        if c in "\"'":  # a string or character literal: skip it whole
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            i = j + 1
        elif text.startswith(("/*", "//"), i):
            block = text.startswith("/*", i)
            j = text.find("*/" if block else "\n", i + 2)
            j = n if j < 0 else j + (2 if block else 0)
            if not re.search(r"fall.?thr", text[i:j], re.I):  # gcc reads those
                for k in range(i, j):
                    if out[k] != "\n":
                        out[k] = " "
            i = j
        else:
            i += 1
    return "".join(out)


def source_of(path, text=None):
    """The text that is mutated: the file (or `text` as its contents), C comments
    blanked."""
    if text is None:
        with open(os.path.join(ROOT, path)) as f:
            text = f.read()
    return text if path.endswith(".py") else "\n".join(
        line.rstrip() for line in _blank_c_comments(text).split("\n"))


def _py_code_lines(text):
    """The lines of Python code that hold more than strings and comments (so not a
    docstring's: universalmutator mutates their words)."""
    skip = {tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
            tokenize.DEDENT, tokenize.ENDMARKER, getattr(tokenize, "FSTRING_MIDDLE", -1)}
    lines = set()
    for t in tokenize.generate_tokens(io.StringIO(text).readline):
        if t.type not in skip:
            lines.update(range(t.start[0], t.end[0] + 1))
    return lines


def mutants_of(path, names, text=None):
    """Every universalmutator mutant of `path` (relative to ROOT) whose line lies
    in the ranges of `names` (None: anywhere): dicts with path, line (1-based),
    old, new (the line before and after, stripped), repl (the new line) and key. Its rules for the language
    (universal, c and c_like; universal and python), literals' contents left alone,
    as its `mutate` command makes them."""
    from universalmutator import mutator
    text = source_of(path, text)
    keep = None
    if names:
        ranges = (_py_ranges if path.endswith(".py") else _c_ranges)(text, names)
        keep = {i for a, b in ranges for i in range(a, b + 1)}
    rules = (["universal.rules", "python.rules"] if path.endswith(".py")
             else ["universal.rules", "c.rules", "c_like.rules"])
    lines = text.split("\n")
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the rules it uses
        found = mutator.mutants_regexp([line + "\n" for line in lines], ruleFiles=rules,
                                       ignorePatterns=[], ignoreStringOnly=True)
    code = _py_code_lines(text) if path.endswith(".py") else None
    out, seen = [], {}
    for lineno, new, *_ in found:
        if keep is not None and lineno not in keep:
            continue
        if code is not None and lineno not in code:  # a docstring's or comment's line
            continue
        old = lines[lineno - 1]
        new = new.rstrip("\n")
        # the key survives edits elsewhere in the file: the change, and which
        # occurrence of the changed line it is
        base = f"{path}|{old.strip()}|{new.strip()}"
        seen[base] = seen.get(base, 0) + 1
        key = hashlib.sha1(f"{base}|{seen[base]}".encode()).hexdigest()[:12]
        out.append(dict(path=path, line=lineno, old=old.strip(), new=new.strip(), repl=new, key=key))
    return out


def mutant_text(m):
    """The whole file with m's line replaced."""
    lines = source_of(m["path"]).split("\n")
    lines[m["line"] - 1] = m["repl"]
    return "\n".join(lines)


def all_mutants(areas):
    out = {}
    for area in areas:
        ms = []
        for path, names in AREAS[area]["files"].items():
            ms += mutants_of(path, names)
        out[area] = ms
    return out


def read_equivalent():
    """{key: reason} of equivalent.txt: `key  path:line  reason`, # comments."""
    out = {}
    if os.path.exists(EQUIVALENT):
        with open(EQUIVALENT) as f:
            for line in f:
                line = line.split("#", 1)[0].strip() if line.lstrip().startswith("#") else line.strip()
                if line:
                    key, _, reason = line.partition(" ")
                    out[key] = reason.strip()
    return out


# -- compiled alone: stillborn, or equivalent by TCE ----------------------------------------

_compile_db = None


def _compile_command(path):
    global _compile_db
    if _compile_db is None:
        with open(os.path.join(BUILD, "compile_commands.json")) as f:
            _compile_db = json.load(f)
    for e in _compile_db:
        if os.path.normpath(os.path.join(e["directory"], e["file"])) == os.path.join(ROOT, path):
            args = shlex.split(e["command"])
            out, i = [], 0
            while i < len(args):  # drop the output, dependency and source arguments
                a = args[i]
                if a in ("-o", "-MQ", "-MF", "-c"):
                    i += 2
                    continue
                if a == "-MD" or a.startswith("-fdiagnostics-color"):
                    i += 1
                    continue
                out.append(a)
                i += 1
            return e["directory"], out
    raise SystemExit(f"generated.py: {path} is not in build/dev's compile_commands.json")


def _bare(code):
    """A code object without its positions (a mutant that adds parentheses moves
    columns only), its nested code objects likewise."""
    consts = tuple(_bare(c) if isinstance(c, types.CodeType) else c for c in code.co_consts)
    return code.replace(co_consts=consts, co_linetable=b"")


def _object(path, text):
    """The object code of `text` compiled as the build compiles `path` (from standard
    input, so that no file name differs), or None when it does not compile."""
    if path.endswith(".py"):
        try:
            return marshal.dumps(_bare(compile(text, path, "exec", dont_inherit=True)))
        except (SyntaxError, ValueError):
            return None
    cwd, cmd = _compile_command(path)
    with tempfile.TemporaryDirectory() as d:
        o = os.path.join(d, "m.o")
        p = subprocess.run([*cmd, "-iquote", os.path.dirname(os.path.join(ROOT, path)),
                            "-x", "c", "-c", "-", "-o", o],
                           cwd=cwd, input=text, capture_output=True, text=True)
        if p.returncode != 0:
            return None
        with open(o, "rb") as f:
            return f.read()


_originals, _orig_lock = {}, threading.Lock()


def classify(m):
    """'stillborn', 'equivalent (TCE)' or None (to be run)."""
    with _orig_lock:
        if m["path"] not in _originals:
            _originals[m["path"]] = _object(m["path"], source_of(m["path"]))
        orig = _originals[m["path"]]
    obj = _object(m["path"], mutant_text(m))
    if obj is None:
        return "stillborn"
    if obj == orig:
        return "equivalent (TCE)"
    return None


# -- the sample -----------------------------------------------------------------------------

def sample_order(by_area, seed):
    """Each area's mutants shuffled by `seed`, dealt round-robin across areas."""
    rng = random.Random(seed)
    queues = []
    for area in sorted(by_area):
        ms = [dict(m, area=area) for m in by_area[area]]
        rng.shuffle(ms)
        queues.append(ms)
    out = []
    while any(queues):
        for q in queues:
            if q:
                out.append(q.pop(0))
    return out


def commit_seed():
    p = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return int(p.stdout.strip()[:8], 16) if p.returncode == 0 and p.stdout.strip() else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, help="the sample's seed (default: from the commit's hash)")
    ap.add_argument("--budget", type=float, default=90,
                    help=f"the run's seconds, setup included: no mutant starts in the last {GRACE}, "
                         "one still running at the end is left out (0: none; default 90)")
    ap.add_argument("--count", type=int, default=0, help="mutants to run (0: until the budget)")
    ap.add_argument("--area", action="append", choices=sorted(AREAS), help="only these areas")
    ap.add_argument("--all-areas", action="store_true", help="also the areas that need Ray")
    ap.add_argument("-j", "--jobs", type=int, default=os.cpu_count() or 1,
                    help="mutants at once, each in its own tree of run.py")
    ap.add_argument("--min-score", type=float, default=None,
                    help="exit 1 when killed / run is below this (0..1)")
    ap.add_argument("--key", action="append", help="run these mutants (keys as printed) only")
    ap.add_argument("--list", action="store_true", help="count the mutants per area and exit")
    ap.add_argument("-v", "--verbose", action="store_true", help="print the tests' output")
    args = ap.parse_args()
    t_start = time.time()  # the budget's start
    if args.key:
        args.all_areas, args.budget, args.count = True, 0, len(args.key)
    if args.budget <= 0 and args.count <= 0:
        ap.error("give --count or a --budget above 0: the whole population takes hours")
    if 0 < args.budget <= GRACE:
        ap.error(f"--budget must be above {GRACE} s: no mutant starts in its last {GRACE} s")
    areas = args.area or [a for a in AREAS if args.all_areas or not AREAS[a].get("slow")]
    by_area = all_mutants(areas)
    equivalent = read_equivalent()
    if args.list:
        for a in areas:
            print(f"{a:12s} {len(by_area[a]):5d} mutants of {', '.join(AREAS[a]['files'])}")
        return 0
    seed = args.seed if args.seed is not None else commit_seed()
    order = sample_order(by_area, seed)
    if args.key:
        order = [m for m in order if m["key"] in args.key]
        missing = set(args.key) - {m["key"] for m in order}
        if missing:
            print(f"no such mutant: {', '.join(sorted(missing))}", file=sys.stderr)
            return 2
    print(f"generated mutants: seed {seed}, areas {', '.join(areas)}, population "
          f"{sum(len(v) for v in by_area.values())}, budget {args.budget:g} s, count {args.count}",
          flush=True)

    python = os.path.join(ROOT, ".venv", "bin", "python")
    jobs = max(1, args.jobs)
    trees = [os.path.join(runner.TREES, f"tree-{i}") for i in range(jobs)]
    runner.fresh_trees(python, trees)
    print(f"setup: {time.time() - t_start:.0f} s", flush=True)
    lock = threading.Lock()
    state = dict(next=0, started=0)
    results = []  # (mutant, verdict)

    def take():
        """The next mutant to run (skipping the ones not to run), or None."""
        while True:
            with lock:
                if args.budget > 0 and time.time() - t_start > args.budget - GRACE:
                    return None
                if args.count and state["started"] >= args.count:
                    return None
                if state["next"] >= len(order):
                    return None
                m = order[state["next"]]
                state["next"] += 1
            if m["key"] in equivalent:
                verdict = "equivalent (listed)"
            else:
                verdict = classify(m)
            if verdict is None:
                with lock:
                    if args.count and state["started"] >= args.count:
                        return None
                    state["started"] += 1
                return m
            with lock:
                results.append((m, verdict))

    def work(tree):
        while (m := take()) is not None:
            t0 = time.time()
            mm = dict(id=m["key"], promise="", edits=[], replace={m["path"]: mutant_text(m)},
                      tests=AREAS[m["area"]]["tests"], timeout=TIMEOUT,
                      deadline=t_start + args.budget if args.budget > 0 else None)
            try:
                verdict, out = runner.run_one(mm, python, tree)
            except Exception as e:  # noqa: BLE001  (counted as an error, the others go on)
                verdict, out = "error (exception)", repr(e)
            verdict = ("killed" + verdict[len("caught"):] if verdict.startswith("caught")
                       else "SURVIVED" if verdict == "MISSED" else verdict)
            with lock:
                results.append((m, verdict))
                print(f"{verdict:10s} {m['area']:10s} {m['key']}  {m['path']}:{m['line']}  "
                      f"{time.time() - t0:5.1f} s  {m['old'][:60]!r} -> {m['new'][:60]!r}",
                      flush=True)
                if args.verbose or verdict.startswith("error"):
                    print("    " + out.strip().replace("\n", "\n    "), flush=True)

    threads = [threading.Thread(target=work, args=(t,)) for t in trees]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    print(f"\ngenerated mutants: seed {seed}, {time.time() - t_start:.0f} s")
    unfinished = sum(v == "unfinished" for _, v in results)
    if unfinished:
        print(f"{unfinished} mutant(s) unfinished at the budget's end: left out")
    print(f"{'area':12s} {'run':>5s} {'killed':>7s} {'survived':>9s} {'error':>6s} {'score':>7s}"
          f" {'TCE-eq':>7s} {'listed':>7s} {'stillborn':>10s}")
    tot = dict(run=0, killed=0, error=0)
    for a in areas:
        rs = [v for m, v in results if m["area"] == a]
        k, s = sum(v.startswith("killed") for v in rs), rs.count("SURVIVED")
        e = sum(v.startswith("error") for v in rs)
        run = k + s
        tot["run"] += run
        tot["killed"] += k
        tot["error"] += e
        score = f"{100 * k / run:6.1f}%" if run else "     - "
        print(f"{a:12s} {run:5d} {k:7d} {s:9d} {e:6d} {score:>7s} {rs.count('equivalent (TCE)'):7d}"
              f" {rs.count('equivalent (listed)'):7d} {rs.count('stillborn'):10d}")
    score = tot["killed"] / tot["run"] if tot["run"] else 1.0
    print(f"{'all':12s} {tot['run']:5d} {tot['killed']:7d} {tot['run'] - tot['killed']:9d}"
          f" {tot['error']:6d} {100 * score:6.1f}%")
    survivors = [m for m, v in results if v == "SURVIVED"]
    if survivors:
        print("\nsurvivors (add a test that kills it, or list it in tests/mutation/equivalent.txt "
              "with why no test can):")
        for m in survivors:
            print(f"  {m['key']}  {m['path']}:{m['line']}  {m['old']!r} -> {m['new']!r}")
    if args.min_score is not None and score < args.min_score:
        print(f"score {100 * score:.1f}% is below --min-score {100 * args.min_score:.1f}%")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
