"""The C worker client's fault paths, driven through the CLI against real Blenders:
a worker killed mid-run, --retries, --timeout, --ring, the bpy flavour, Ctrl-C after
frames were written (folder and --stack), a disk that fills mid-frame, two runs at
once, and the sweep of temporary folders that killed consumers left.

Every output is compared with the Python API's render of the same frames; every
fault is proven to have happened (the hooks in fault_hooks.py leave marker files);
every test kills what it started (the CLI, then its Blenders, by PID), pass or fail.
"""
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import blendarray as ba
from support import BUILD_DIR, PACKAGE_DIR, ROOT, user_env
from test_bad_input import ROGUE, ROGUE_CASES, _blenders_with_tmpdir

HOOKS = os.path.join(ROOT, "tests", "cli", "fault_hooks.py")
PASSES = ["rgba", "depth", "object_index"]
COMMON = ["-p", ",".join(PASSES), "-e", "cycles", "-s", "1", "--size", "48x36", "-q"]
FRAMES = [1, 40, 80, 120, 160, 200]  # far apart: a frame rendered with another's number differs
TIMING = {"render_seconds", "capture_seconds", "display_seconds", "worker"}


def _workers(tmp):
    """Live processes whose TMPDIR lies in tmp: the Blenders of the CLI we started there."""
    return _blenders_with_tmpdir(str(tmp))


class Cli:
    """The CLI running in the background, its stderr collected; stop() kills it and
    every Blender it started (found by TMPDIR, killed by PID), whatever happened."""

    def __init__(self, cli, args, tmp_path, stdout=subprocess.DEVNULL, env=None):
        self.tmp = tmp_path / "tmp"
        self.marks = tmp_path / "marks"
        self.tmp.mkdir(exist_ok=True)
        self.marks.mkdir(exist_ok=True)
        env = dict(os.environ, **(env or {}), TMPDIR=str(self.tmp), BA_TEST_DIR=str(self.marks))
        self.t0 = time.time()
        self.p = subprocess.Popen([cli, *map(str, args)], env=env, stdout=stdout,
                                  stderr=subprocess.PIPE)
        self.lines = []
        self.reader = threading.Thread(
            target=lambda: self.lines.extend(iter(self.p.stderr.readline, b"")), daemon=True)
        self.reader.start()

    @property
    def stderr(self):
        return b"".join(self.lines).decode(errors="replace")

    def wait(self, timeout):
        try:
            self.p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"the CLI did not finish within {timeout} s:\n{self.stderr[-3000:]}")
        self.reader.join(timeout=10)
        return self.p.returncode

    def wait_for(self, what, predicate, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and not predicate():
            if self.p.poll() is not None:
                break
            time.sleep(0.05)
        if not predicate():
            self.stop()
            raise AssertionError(f"{what} did not happen within {timeout} s "
                                 f"(CLI exit {self.p.poll()}):\n{self.stderr[-3000:]}")

    def stop(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        for pid in _workers(self.tmp):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()

    def assert_clean(self):
        """No Blender left, the workers' temporary folders removed."""
        deadline = time.time() + 5
        while time.time() < deadline and _workers(self.tmp):
            time.sleep(0.05)
        assert not _workers(self.tmp), "a Blender outlived the CLI"
        assert os.listdir(self.tmp) == [], os.listdir(self.tmp)


def _lines(text):
    return [line for line in text.splitlines() if line.startswith("blendarray: ")]


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def comparable(meta):
    return {k: v for k, v in meta.items() if k not in TIMING}


def check_npz(path, want, first_index=None):
    """out.npz holds exactly the frames `want` (Python API Frames), arrays and metadata
    (with first_index, want[0] was index first_index in its own run)."""
    with np.load(path) as z:
        assert sorted(z.files) == sorted(PASSES + ["meta.json"])
        for name in PASSES:
            assert same(z[name], np.stack([f[name] for f in want])), name
        metas = json.loads(z["meta.json"])
    if first_index is not None:
        assert [m["index"] for m in metas] == list(range(len(want)))
        metas = [dict(m, index=m["index"] + first_index) for m in metas]
    assert [comparable(m) for m in metas] == [comparable(f.meta) for f in want]


def python_api(scene, frames, blender="blender", **kw):
    args = dict(passes=PASSES, engine="CYCLES", samples=1, resolution=(48, 36), blender=blender)
    args.update(kw)
    with ba.Renderer(scene, **args) as r:
        return [f.copy() for f in r.frames(frames)]


@pytest.fixture(scope="module")
def reference(demo_blend):
    """The Python API's frames FRAMES of the demo scene."""
    return python_api(demo_blend(), FRAMES)


# ---------------------------------------------------------------------------
# a worker that dies: its frames are rendered again, exactly; --retries bounds it


def test_killed_worker_frames_are_rendered_again(cli, demo_blend, reference, tmp_path):
    out = tmp_path / "out.npz"
    with Cli(cli, ["render", demo_blend(), "-f", ",".join(map(str, FRAMES)), *COMMON,
                   "--setup", HOOKS + ":kill_once_on_two", "-o", out], tmp_path) as run:
        rc = run.wait(120)
        assert rc == 0, run.stderr
        assert (run.marks / "killed-2").exists(), "the worker was never killed"
        run.assert_clean()
    # the frames the killed worker had (indices 2 and 3, in flight) came again, with
    # their own frame numbers: bit for bit the undisturbed Python API render
    check_npz(out, reference)
    assert sorted(os.listdir(tmp_path)) == ["marks", "out.npz", "tmp"]


@pytest.mark.parametrize("retries", [0, 1, 2])
def test_retries_bound_the_attempts(cli, demo_blend, tmp_path, retries):
    out = tmp_path / "out.npz"
    with Cli(cli, ["render", demo_blend(), "-f", "1,40", *COMMON, "--retries", retries,
                   "--setup", HOOKS + ":kill_always_on_one", "-o", out], tmp_path) as run:
        rc = run.wait(180)
        attempts = [n for n in os.listdir(run.marks) if n.startswith("attempt-1-")]
        assert rc == 1, run.stderr
        assert len(attempts) == retries + 1, f"--retries {retries}: {len(attempts)} attempts"
        line = _lines(run.stderr)[0]
        assert f"index 1 failed on worker 0 after {retries + 1} attempt(s)" in line, line
        assert "SIGKILL" in line, line
        run.assert_clean()
    assert not out.exists() and sorted(os.listdir(tmp_path)) == ["marks", "tmp"]


# ---------------------------------------------------------------------------
# --timeout: a frame that overruns is stopped, then retried or reported


def test_timeout_stops_an_overrunning_frame_and_retries_it(cli, demo_blend, reference, tmp_path):
    out = tmp_path / "out.npz"
    with Cli(cli, ["render", demo_blend(), "-f", "1,40,80", *COMMON, "--timeout", "4",
                   "--setup", HOOKS + ":hang_once_on_one", "-o", out], tmp_path) as run:
        rc = run.wait(90)
        took = time.time() - run.t0
        assert rc == 0, run.stderr
        assert (run.marks / "hung-1").exists(), "no frame overran"
        assert took >= 4, f"finished in {took:.1f} s: the hung frame was not waited for"
        run.assert_clean()
    check_npz(out, reference[:3])


def test_timeout_past_the_retries_fails_naming_it(cli, demo_blend, tmp_path):
    out = tmp_path / "out.npz"
    with Cli(cli, ["render", demo_blend("slow"), "-f", "1", "-p", "rgba", "-e", "cycles",
                   "--size", "32x24", "--timeout", "1.5", "--retries", "0", "-q", "-o", out],
             tmp_path) as run:
        rc = run.wait(30)
        took = time.time() - run.t0
        assert rc == 1, run.stderr
        line = _lines(run.stderr)[0]
        assert "index 0 failed" in line and "did not finish a frame within 1.5 s" in line, line
        assert took >= 1.5
        run.assert_clean()
    assert not out.exists()


# ---------------------------------------------------------------------------
# --ring: the shared memory is ring x frame size, and the output exact


def _ring_bytes(pid):
    sizes = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("/memfd:blendarray-ring"):
                sizes.append(os.stat(f"/proc/{pid}/fd/{fd}").st_size)
        except OSError:
            pass
    return sizes


@pytest.mark.parametrize("ring", [1, 3, None])
def test_ring_size_bounds_memory_and_output_is_exact(cli, demo_blend, reference, tmp_path, ring):
    """--ring N: N slots of a frame each; none: as many as fit in 64 MiB, at most 16
    (these frames are small: 16)."""
    out = tmp_path / "out.npz"
    frames = FRAMES[:4]
    given = [] if ring is None else ["--ring", ring]
    with Cli(cli, ["render", demo_blend(), "-f", ",".join(map(str, frames)), *COMMON,
                   *given, "--setup", HOOKS + ":wait_on_two", "-o", out], tmp_path) as run:
        # index 2 waits in its hook: by then frames 0 and 1 came, the ring exists
        run.wait_for("the render of index 2", lambda: (run.marks / "waiting-2").exists(), 30)
        sizes = _ring_bytes(run.p.pid)
        (run.marks / "go").touch()
        rc = run.wait(60)
        assert rc == 0, run.stderr
        run.assert_clean()
    frame_bytes = sum(reference[0][n].nbytes for n in PASSES)
    page = os.sysconf("SC_PAGE_SIZE")
    if ring is None:
        assert 16 * (frame_bytes + len(PASSES) * page) <= 64 << 20
        ring = 16
    assert len(sizes) == 1, sizes  # one worker, one ring
    slots = sizes[0] - page  # a header page, then the slots
    assert ring * frame_bytes <= slots <= ring * (frame_bytes + len(PASSES) * page), \
        (ring, frame_bytes, sizes[0])
    check_npz(out, reference[:4])


# ---------------------------------------------------------------------------
# the bpy flavour


def test_bpy_flavour_equals_python_api(cli, demo_blend, tmp_path):
    import importlib.util
    if importlib.util.find_spec("bpy") is None:
        if os.environ.get("BLENDARRAY_REQUIRE_FLAVOURS") == "1":
            pytest.fail("the bpy module is not installed")
        pytest.skip("the bpy module is not installed")
    out = tmp_path / "out.npz"
    with Cli(cli, ["render", demo_blend(), "-f", "1,40", *COMMON, "--blender", "bpy",
                   "--python", sys.executable, "-o", out], tmp_path) as run:
        assert run.wait(300) == 0, run.stderr
        run.assert_clean()
    want = python_api(demo_blend(), [1, 40], blender="bpy")
    assert want[0].meta["blender_version"].split(".")[0] != "3"  # bpy, not Debian's 3.4
    check_npz(out, want)


def _installed(cli, prefix, version=None):
    """A copy of the CLI laid out as pip installs it: <prefix>/bin/blendarray, the
    package in <prefix>/lib/python3.X/site-packages, <prefix>/bin/python3 (a venv's:
    here a wrapper of this Python, which has bpy). version: fake the package's."""
    import shutil
    os.makedirs(prefix / "bin")
    shutil.copy2(cli, prefix / "bin" / "blendarray")
    (prefix / "bin" / "python3").write_text(f"#!/bin/sh\nexec {sys.executable} \"$@\"\n")
    (prefix / "bin" / "python3").chmod(0o755)
    site = prefix / "lib" / "python3.11" / "site-packages"
    os.makedirs(site)
    shutil.copytree(os.path.join(os.path.dirname(cli), "python", "blendarray"), site / "blendarray",
                    ignore=shutil.ignore_patterns("*.p", "__pycache__"))
    if version:
        (site / "blendarray" / "_version.py").write_text(f'version = "{version}"\n')
    return prefix / "bin" / "blendarray"


def test_installed_cli_finds_its_package_and_the_python_beside_it(cli, tmp_path):
    """Installed (pip: <prefix>/bin), with no environment variable, no `blender` and
    no python3 on PATH: the CLI finds its package in <prefix>/lib/python3.X/site-packages
    and, for bpy (the default without a blender), the python3 beside it."""
    import importlib.util
    if importlib.util.find_spec("bpy") is None:
        if os.environ.get("BLENDARRAY_REQUIRE_FLAVOURS") == "1":
            pytest.fail("the bpy module is not installed")
        pytest.skip("the bpy module is not installed")
    exe = _installed(cli, tmp_path / "prefix")
    empty = tmp_path / "empty"
    empty.mkdir()
    env = user_env(TMPDIR=str(empty), PATH=str(empty))
    p = subprocess.run([exe, "render", "-p", "rgba", "-e", "workbench", "--size", "16x12", "-q",
                        "-o", str(tmp_path / "o.npz")], env=env, capture_output=True, text=True,
                       timeout=300)
    assert p.returncode == 0, p.stderr
    with np.load(tmp_path / "o.npz") as z:
        assert json.loads(z["meta.json"])[0]["blender_version"].split(".")[0] != "3"  # bpy
    assert os.listdir(empty) == []


@pytest.mark.parametrize("case", ["other version", "no package"])
def test_installed_cli_without_its_package_says_what_to_do(cli, tmp_path, case):
    exe = _installed(cli, tmp_path / "prefix", version="9.9.9")
    if case == "no package":
        import shutil
        shutil.rmtree(tmp_path / "prefix" / "lib")
    env = user_env()
    p = subprocess.run([exe, "render", "-p", "rgba", "-o", str(tmp_path / "o.npz")], env=env,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 1
    if case == "other version":
        assert "a mixed install" in p.stderr and "9.9.9" in p.stderr, p.stderr
    else:
        assert "cannot find the blendarray Python package" in p.stderr, p.stderr
    assert "pip install" in p.stderr and "BLENDARRAY_PACKAGE" in p.stderr
    assert not (tmp_path / "o.npz").exists()


# ---------------------------------------------------------------------------
# Ctrl-C after frames were written: a folder keeps whole frames, a stack nothing

SLOW = ["-p", "rgba,depth", "-e", "cycles", "-s", "300", "--size", "96x72", "--threads", "1"]


def test_ctrl_c_in_folder_mode_keeps_complete_frames(cli, demo_blend, tmp_path):
    d = tmp_path / "frames"
    with Cli(cli, ["render", demo_blend("slow"), "-f", "1-60", *SLOW, "-q", "-o", f"{d}/"],
             tmp_path) as run:
        run.wait_for("two frames written",
                     lambda: d.exists() and len([n for n in os.listdir(d) if n.startswith("depth_")]) >= 2,
                     60)
        assert run.p.poll() is None and _workers(run.tmp), "the worker is not rendering"
        run.p.send_signal(signal.SIGINT)
        t0 = time.time()
        rc = run.wait(30)
        # the frames in flight take minutes: stopped, not waited for (generous: a loaded
        # machine takes seconds to reap two Blenders)
        assert time.time() - t0 < 15, "Ctrl-C waited for the frames in flight"
        assert rc == 130, run.stderr
        run.assert_clean()
        lines = _lines(run.stderr)
    names = sorted(os.listdir(d))
    n = len([x for x in names if x.startswith("rgba_")])
    assert n >= 2
    assert lines == [f"blendarray: interrupted: workers stopped; kept {n} complete frames in "
                     f"{d}/; nothing partial left"], lines
    assert names == sorted(f"{p}_{i:04d}.{ext}" for i in range(1, n + 1)
                           for p, ext in (("rgba", "npy"), ("depth", "npy"), ("meta", "json")))
    with ba.Renderer(demo_blend("slow"), passes=["rgba", "depth"], engine="CYCLES", samples=300,
                     resolution=(96, 72), threads=1, blender="blender") as r:
        for i, f in enumerate(r.frames(range(1, n + 1)), 1):
            for p in ("rgba", "depth"):
                assert same(np.load(d / f"{p}_{i:04d}.npy"), f[p]), (p, i)
            meta = json.loads((d / f"meta_{i:04d}.json").read_text())
            assert comparable(meta) == comparable(f.meta)


def test_ctrl_c_in_stack_mode_removes_the_stacks(cli, demo_blend, tmp_path):
    d = tmp_path / "stack"
    with Cli(cli, ["render", demo_blend("slow"), "-f", "1-60", *SLOW, "--stack", "-o", f"{d}/"],
             tmp_path) as run:
        # not -q, not a terminal: one line per frame written
        run.wait_for("two frames written", lambda: "frame 2 (2/60)" in run.stderr, 60)
        assert run.p.poll() is None and _workers(run.tmp), "the worker is not rendering"
        partial = os.listdir(d)
        assert any(n.startswith(".rgba.npy.") for n in partial), partial  # the stacks, growing
        run.p.send_signal(signal.SIGINT)
        rc = run.wait(30)
        assert rc == 130, run.stderr
        run.assert_clean()
        line = _lines(run.stderr)[-1]
    assert line.startswith("blendarray: interrupted: workers stopped; the incomplete stacks ("), line
    assert line.endswith(f"were removed: {d}/ holds nothing from this run"), line
    assert os.listdir(d) == []


# ---------------------------------------------------------------------------
# a full disk


def small_filesystem(path, size):
    """A tmpfs of `size` at path (needs root; CI runs as root)."""
    path.mkdir()
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                       capture_output=True, text=True)
    if p.returncode != 0:
        why = f"cannot mount a small tmpfs ({p.stderr.strip() or 'not root'})"
        if os.environ.get("BLENDARRAY_REQUIRE_FLAVOURS") == "1":
            pytest.fail(why)
        pytest.skip(why)


def test_disk_full_mid_frame_in_folder_mode_keeps_whole_frames(cli, demo_blend, tmp_path):
    """The disk fills while frame 2's rgba is written: frame 2's files so far go, frame 1 stays."""
    mnt = tmp_path / "small"
    page = os.sysconf("SC_PAGE_SIZE")
    pages = lambda n: -(-n // page)
    depth, rgba = pages(96 * 72 * 4 + 128), pages(96 * 72 * 16 + 128)  # the .npy files
    # frame 1 whole (meta, depth, rgba), frame 2's meta and depth, then half its rgba
    small_filesystem(mnt, (2 * pages(4096) + 2 * depth + rgba + rgba // 2) * page)
    try:
        d = mnt / "f"
        with Cli(cli, ["render", demo_blend(), "-f", "1-3", "-p", "depth,rgba", "-e", "cycles",
                       "-s", "1", "--size", "96x72", "-q", "-o", f"{d}/"], tmp_path) as run:
            rc = run.wait(120)
            assert rc == 1, run.stderr
            lines = _lines(run.stderr)
            run.assert_clean()
        assert len(lines) == 2 and "No space left" in lines[0], lines
        assert lines[1] == f"blendarray: kept 1 complete frame in {d}/; nothing partial left", lines
        assert sorted(os.listdir(d)) == ["depth_0001.npy", "meta_0001.json", "rgba_0001.npy"]
        (want,) = python_api(demo_blend(), [1], passes=["depth", "rgba"], resolution=(96, 72))
        for p in ("depth", "rgba"):
            assert same(np.load(d / f"{p}_0001.npy"), want[p]), p
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


# ---------------------------------------------------------------------------
# two runs at once, sharing TMPDIR


def test_two_runs_at_once_equal_python_api(cli, demo_blend, reference, tmp_path):
    runs = []
    try:
        for k, frames in enumerate((FRAMES[:3], FRAMES[3:])):
            runs.append(Cli(cli, ["render", demo_blend(), "-f", ",".join(map(str, frames)),
                                  *COMMON, "-o", tmp_path / f"{k}.npz"], tmp_path))
        for run in runs:
            assert run.wait(180) == 0, run.stderr
    finally:
        for run in runs:
            run.stop()
    runs[0].assert_clean()
    check_npz(tmp_path / "0.npz", reference[:3])
    check_npz(tmp_path / "1.npz", reference[3:], first_index=3)


# ---------------------------------------------------------------------------
# the temporary folders of killed consumers: the CLI removes them itself


def test_stale_temp_folders_are_swept_by_the_cli(cli, demo_blend, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert not os.path.exists(f"/proc/{gone.pid}")  # a pid that no process has now
    stale = tmp / f"blendarray-{gone.pid}-aB3xYz"  # a killed consumer's, with a worker's leftovers
    (stale / "blender").mkdir(parents=True)
    (stale / "blender" / "demo.crash.txt").write_text("# Blender crash report")
    (stale / "render.exr").write_bytes(b"\0" * 4096)
    keep = [tmp / f"blendarray-{os.getpid()}-live00",   # a live consumer's (this test's pid)
            tmp / f"blendarray-{gone.pid}-file00",      # a file, not a folder
            tmp / f"blendarrayx-{gone.pid}-other0",     # not blendarray's name
            tmp / f"blendarray-{gone.pid}x-bad000"]     # not blendarray's name either
    keep[0].mkdir()
    (keep[0] / "in-use").write_text("")
    keep[1].write_text("")
    keep[2].mkdir()
    keep[3].mkdir()
    if os.geteuid() == 0:  # someone else's: left alone
        keep.append(tmp / f"blendarray-{gone.pid}-nobody")
        keep[-1].mkdir()
        os.chown(keep[-1], 65534, 65534)
    with Cli(cli, ["render", demo_blend(), "-f", "1", "-p", "rgba", "-e", "workbench",
                   "--size", "16x12", "-q", "-o", tmp_path / "o.npz"], tmp_path) as run:
        assert run.wait(120) == 0, run.stderr
    assert sorted(os.listdir(tmp)) == sorted(p.name for p in keep)
    assert os.listdir(keep[0]) == ["in-use"]


@pytest.mark.parametrize("mode, message", ROGUE_CASES)
def test_rogue_worker_is_a_clear_error(cli, tmp_path, mode, message):
    """The C worker client against a worker that answers with an unknown protocol
    version, a malformed reply, or an array outside its memory (the same rogue
    worker the Python tests use): exit 1 with a message naming the worker, in
    seconds, with no output and no process left."""
    env = dict(os.environ, ROGUE=mode, ROGUE_PYTHONPATH=PACKAGE_DIR,
               TMPDIR=str(tmp_path))
    t0 = time.time()
    p = subprocess.run([cli, "render", "--blender", ROGUE, "-p", "rgba", "--retries", "1", "-q",
                        "-o", str(tmp_path / "r.npz")], env=env, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 1, p.stderr
    assert message in p.stderr and "worker 0" in p.stderr, p.stderr
    assert time.time() - t0 < 20
    assert os.listdir(tmp_path) == []
    assert not _workers(tmp_path)


def test_bpy_worker_keeps_the_users_pythonpath(cli, tmp_path):
    """With --blender bpy the worker's PYTHONPATH is the package's folder, then the
    user's own: a hook file can import the user's modules from it."""
    lib = tmp_path / "userlib"
    lib.mkdir()
    (lib / "mylabels.py").write_text("TAG = 'from-user-pythonpath'\n")
    hook = tmp_path / "hook.py"
    hook.write_text("import mylabels\n\ndef setup(scene, index, rng):\n"
                    "    return {'tag': mylabels.TAG}\n")
    out = tmp_path / "out.npz"
    env = dict(os.environ, PYTHONPATH=str(lib), TMPDIR=str(tmp_path))
    p = subprocess.run([cli, "render", "-p", "rgba", "-e", "workbench", "--size", "16x12", "-q",
                        "--blender", "bpy", "--python", sys.executable, "--setup", str(hook),
                        "-o", str(out)], env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    with np.load(out) as z:
        assert json.loads(z["meta.json"])[0]["tag"] == "from-user-pythonpath"


# ---------------------------------------------------------------------------
# the same faults as the Python API's (tests/python/test_faults.py), on the one
# implementation: random SIGKILLs over a long stream, a hook that raises

def test_random_worker_kills_over_200_frames_lose_nothing(cli, demo_blend, tmp_path):
    """200 frames, 2 workers, a setup hook: 4 SIGKILLs of a random worker at random
    moments; every frame arrives once, in order, bit for bit the undisturbed render."""
    n = 200
    kw = dict(passes=["rgba", "object_index"], resolution=(32, 24), seed=5,
              setup=os.path.join(ROOT, "tests", "cli", "randomize.py"))
    with ba.Renderer(demo_blend(), workers=2, engine="CYCLES", samples=1, **kw) as r:
        want = [f.copy() for f in r.frames(n)]
    out = tmp_path / "out.npz"
    args = ["render", demo_blend(), "-n", str(n), "-p", "rgba,object_index", "-e", "cycles",
            "-s", "1", "--size", "32x24", "--setup", kw["setup"], "--seed", "5", "-w", "2",
            "--retries", "2", "-q", "-o", out]
    rng = random.Random(1)
    kills = 0
    # 50 ms a frame: 5 s of stream, time for 4 restarts (each waits to be rendering again)
    with Cli(cli, args, tmp_path, env={"BA_TEST_FRAME_SECONDS": "0.05"}) as run:
        deadline = time.time() + 300
        while kills < 4 and run.p.poll() is None and time.time() < deadline:
            time.sleep(rng.uniform(0.3, 1.0))
            victims = _workers(run.tmp)
            # both rendering: a restarted Blender is killed only once it has started
            # (a kill while starting is another fault, retried on its own count), and
            # finished its first frame: that frame (Cycles loads its kernels and syncs the
            # scene, up to a second on a busy machine) is always the lowest index sent
            # back, so kills that land in it again and again charge one frame all its
            # retries (seen: index 3 failed after 3 attempts)
            if len(victims) == 2 and all((run.marks / f"warm-{pid}").exists()
                                         for pid in victims):
                os.kill(rng.choice(victims), signal.SIGKILL)
                kills += 1
        assert run.wait(300) == 0, run.stderr
        run.assert_clean()
    assert kills == 4, "the stream ended before 4 kills: make it longer"
    with np.load(out) as z:
        metas = json.loads(z["meta.json"])
        assert [m["index"] for m in metas] == list(range(n)), "every frame once, in order"
        for name in ("rgba", "object_index"):
            assert same(z[name], np.stack([f[name] for f in want])), name


SLOW_FIRST_SEND = os.path.join(BUILD_DIR, "tests", "c", "slow_first_send.so")


@pytest.mark.parametrize("before_init", [False, True], ids=["loading", "before-its-init"])
def test_worker_killed_while_starting_is_started_again(cli, demo_blend, tmp_path, before_init):
    """A Blender SIGKILLed while it starts (before it rendered anything) is a start
    failure: started again within --retries, and every frame comes out. Killed
    while it loads, or before the CLI could even send it its init (the CLI's
    first send held back by tests/c/slow_first_send.c)."""
    out = tmp_path / "out.npz"
    args = ["render", demo_blend(), "-n", "3", "-p", "rgba", "-e", "cycles", "-s", "1",
            "--size", "32x24", "--setup", os.path.join(ROOT, "tests", "cli", "randomize.py"),
            "-w", "1", "--retries", "1", "-q", "-o", out]
    env = {"LD_PRELOAD": SLOW_FIRST_SEND, "SLOW_FIRST_SEND": "4"} if before_init else None
    started = time.time()
    with Cli(cli, args, tmp_path, env=env) as run:
        first, deadline = None, time.time() + 60
        while first is None and time.time() < deadline and run.p.poll() is None:
            pids = _workers(run.tmp)
            if pids:
                first = pids[0]
            else:
                time.sleep(0.002)
        assert first, "no Blender started"
        if not before_init:
            time.sleep(0.3)  # the CLI sends the init right after the spawn: it has gone now
        os.kill(first, signal.SIGKILL)
        assert not (run.marks / f"rendering-{first}").exists(), "killed too late: it rendered"
        if before_init:
            assert time.time() - started < 3.5, "killed too late: its init may have gone"
        assert run.wait(120) == 0, run.stderr
        run.assert_clean()
    rendered = [n for n in os.listdir(run.marks) if n.startswith("rendering-")]
    assert rendered and f"rendering-{first}" not in rendered, rendered
    with np.load(out) as z:
        assert [m["index"] for m in json.loads(z["meta.json"])] == [0, 1, 2]


def test_hook_exception_names_the_index_and_its_traceback(cli, demo_blend, tmp_path):
    out = tmp_path / "out.npz"
    with Cli(cli, ["render", demo_blend(), "-f", "1-6", *COMMON, "-w", "2",
                   "--setup", HOOKS + ":raise_on_three", "-o", out], tmp_path) as run:
        assert run.wait(120) == 1, run.stderr
        run.assert_clean()
    first = _lines(run.stderr)[0]
    assert first.startswith("blendarray: index 3: ") and "ValueError" in first, first
    assert "no good value for frame 4" in run.stderr and "raise_on_three" in run.stderr
    assert not out.exists()
