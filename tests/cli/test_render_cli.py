"""blendarray render: every output mode round-trips through numpy.load and
equals the Python API's arrays and metadata for the same render; bad input and
faults give a one-line error, a non-zero exit and no leftovers."""
import io
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import blendarray as ba
from support import ROOT
from test_bad_input import _blenders_with_tmpdir

COMMON = ["-p", "rgba,depth,object_index", "-e", "cycles", "-s", "1", "--size", "48x36", "-q"]


def run(cli, *args, **kw):
    return subprocess.run([cli, *args], capture_output=True, timeout=600, **kw)


@pytest.fixture(scope="module")
def reference(demo_blend):
    """The Python API's arrays for frames 1-3 of the demo scene."""
    with ba.Renderer(demo_blend(), passes=["rgba", "depth", "object_index"], engine="CYCLES",
                     samples=1, resolution=(48, 36), blender="blender") as r:
        return [f.copy() for f in r.frames(range(1, 4))]


def same(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def test_npz_equals_python_api(cli, demo_blend, reference, tmp_path):
    out = tmp_path / "out.npz"
    p = run(cli, "render", demo_blend(), "-f", "1-3", *COMMON, "-o", str(out))
    assert p.returncode == 0, p.stderr.decode()
    with np.load(out) as z:
        assert sorted(z.files) == ["depth", "meta.json", "object_index", "rgba"]
        for name in ("depth", "object_index", "rgba"):
            assert same(z[name], np.stack([f[name] for f in reference])), name
    assert os.listdir(tmp_path) == ["out.npz"]  # nothing else left beside it


def test_compressed_npz(cli, demo_blend, reference, tmp_path):
    out = tmp_path / "c.npz"
    p = run(cli, "render", demo_blend(), "-f", "1-3", *COMMON, "-z", "-o", str(out))
    assert p.returncode == 0, p.stderr.decode()
    with np.load(out) as z:
        assert same(z["rgba"], np.stack([f["rgba"] for f in reference]))


def test_folder_of_npy(cli, demo_blend, reference, tmp_path):
    p = run(cli, "render", demo_blend(), "-f", "1,2,3", *COMMON, "-o", str(tmp_path) + "/frames/")
    assert p.returncode == 0, p.stderr.decode()
    names = sorted(os.listdir(tmp_path / "frames"))
    assert names == sorted([f"{n}_{i:04d}.npy" for n in ("rgba", "depth", "object_index")
                            for i in (1, 2, 3)] + [f"meta_{i:04d}.json" for i in (1, 2, 3)])
    for i, f in enumerate(reference, 1):
        for name in ("rgba", "depth", "object_index"):
            assert same(np.load(tmp_path / "frames" / f"{name}_{i:04d}.npy"), f[name])


def test_stack_is_memory_mappable(cli, demo_blend, reference, tmp_path):
    p = run(cli, "render", demo_blend(), "-f", "1-3", *COMMON, "--stack", "-o", str(tmp_path) + "/s/")
    assert p.returncode == 0, p.stderr.decode()
    for name in ("rgba", "depth", "object_index"):
        a = np.load(tmp_path / "s" / f"{name}.npy", mmap_mode="r")
        assert isinstance(a, np.memmap)
        assert same(np.asarray(a), np.stack([f[name] for f in reference]))


def test_stdout_stream(cli, demo_blend, reference):
    """NumPy alone reads the stream: per frame, the metadata record (uint8 JSON text
    naming the arrays that follow), then the arrays, passes in --passes order."""
    p = run(cli, "render", demo_blend(), "-f", "1-3", *COMMON, "-o", "-")
    assert p.returncode == 0, p.stderr.decode()
    s = io.BytesIO(p.stdout)
    for f in reference:  # frames in order
        record = np.load(s)
        assert record.dtype == np.uint8 and record.ndim == 1
        meta = json.loads(record.tobytes().decode("utf-8"))
        assert meta["pass_order"] == ["rgba", "depth", "object_index"]
        assert meta["frame"] == f.meta["frame"]
        for name in meta["pass_order"]:
            assert same(np.load(s), f[name]), name
    assert s.read() == b""


def test_stdout_through_a_real_pipe(cli, demo_blend, reference):
    code = ("import sys, blendarray as ba\n"
            "for f in ba.read_stream(sys.stdin.buffer):\n"
            "    for a in f.values():\n"
            "        print(a.dtype, a.shape, float(a.astype('f8').sum()))\n")
    p = subprocess.run(f"{cli} render {demo_blend()} -f 1-2 {' '.join(COMMON)} -o - | "
                       f"{sys.executable} -c \"{code}\"", shell=True, capture_output=True,
                       text=True, timeout=600,
                       env=dict(os.environ, PYTHONPATH=os.path.join(ROOT, "python")))
    assert p.returncode == 0, p.stderr
    want = [f"{f[n].dtype} {f[n].shape} {float(f[n].astype('f8').sum())}"
            for f in reference[:2] for n in ("rgba", "depth", "object_index")]
    assert p.stdout.splitlines() == want


def test_float16_and_display(cli, demo_blend, reference, tmp_path):
    out = tmp_path / "h.npz"
    p = run(cli, "render", demo_blend(), "-f", "1,100", *COMMON, "--dtype", "float16", "--display",
            "-o", str(out))
    assert p.returncode == 0, p.stderr.decode()
    # the reference: Blender's own PNGs of the same renders, read by PIL
    from PIL import Image
    subprocess.run(["blender", "-b", "--factory-startup", "-noaudio", "--python",
                    os.path.join(ROOT, "tests", "cli", "blender_png.py"), "--", demo_blend(),
                    "48x36", "1", str(tmp_path), "1", "100"], check=True, capture_output=True,
                   timeout=300)
    want = np.stack([np.asarray(Image.open(tmp_path / f"{i}.png").convert("RGBA")) for i in (1, 100)])
    with np.load(out) as z:
        assert z["rgba"].dtype == np.float16
        assert np.array_equal(z["rgba"][0].view(np.uint16),
                              reference[0]["rgba"].astype(np.float16).view(np.uint16))
        assert z["object_index"].dtype == np.int32  # integer passes stay integers
        # the colour-managed image, pixel for pixel what Blender's own PNG holds
        assert z["display"].dtype == np.uint8 and z["display"].shape == (2, 36, 48, 4)
        assert np.array_equal(z["display"], want)
        assert len(np.unique(want[..., :3])) > 5 and not np.array_equal(want[0], want[1])


def test_help_and_version(cli):
    p = run(cli, "render", "--help")
    assert p.returncode == 0 and b"examples:" in p.stdout and b"--stack" in p.stdout
    p = run(cli, "--version")
    assert p.returncode == 0 and p.stdout.startswith(b"blendarray 0.")


def _one_line(p):
    err = p.stderr.decode().strip().splitlines()
    assert len(err) == 1 and err[0].startswith("blendarray: "), p.stderr.decode()
    return err[0]


def test_existing_output_is_refused(cli, demo_blend, tmp_path):
    out = tmp_path / "x.npz"
    out.write_bytes(b"precious")
    p = run(cli, "render", demo_blend(), "-f", "1", *COMMON, "-o", str(out))
    assert p.returncode == 1 and "--force" in _one_line(p)
    assert out.read_bytes() == b"precious"
    p = run(cli, "render", demo_blend(), "-f", "1", *COMMON, "-o", str(out), "--force")
    assert p.returncode == 0 and np.load(out)["rgba"].shape == (1, 36, 48, 4)


@pytest.mark.parametrize("spec", ["1-", "a-b", "5-1", "1,,x", "1-10:0", ""])
def test_malformed_frame_range(cli, demo_blend, tmp_path, spec):
    p = run(cli, "render", demo_blend(), "-f", spec, "-o", str(tmp_path / "o.npz"))
    assert p.returncode == 2 and "frame list" in _one_line(p)
    assert os.listdir(tmp_path) == []


def test_unknown_pass_and_missing_scene(cli, demo_blend, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    env = dict(os.environ, TMPDIR=str(tmp))  # this test's workers only, whatever else runs
    p = run(cli, "render", demo_blend(), "-f", "1", "-p", "rgba,dpeth", "-o",
            str(tmp_path / "o.npz"), env=env)
    line = _one_line(p)
    assert p.returncode == 1 and "dpeth" in line and "depth" in line
    p = run(cli, "render", str(tmp_path / "none.blend"), "-o", str(tmp_path / "o.npz"), env=env)
    assert p.returncode == 1 and "none.blend" in _one_line(p)
    assert sorted(os.listdir(tmp_path)) == ["tmp"] and os.listdir(tmp) == []
    assert not _blenders_with_tmpdir(str(tmp))


def test_unwritable_output(cli, demo_blend, tmp_path):
    (tmp_path / "file").write_text("not a folder")
    p = run(cli, "render", demo_blend(), "-f", "1", "-o", str(tmp_path / "file" / "o.npz"))
    assert p.returncode == 1 and "file" in _one_line(p)
    assert sorted(os.listdir(tmp_path)) == ["file"]


def test_missing_output_folder(cli, demo_blend, tmp_path):
    p = run(cli, "render", demo_blend(), "-f", "1", "-o", str(tmp_path / "nope" / "o.npz"))
    assert p.returncode == 1 and "does not exist" in _one_line(p)
    assert os.listdir(tmp_path) == []


def test_disk_full_leaves_nothing(cli, demo_blend, tmp_path):
    from test_faults_cli import small_filesystem
    mnt = tmp_path / "small"
    small_filesystem(mnt, "256k")  # skipped without root, failed under BLENDARRAY_REQUIRE_FLAVOURS=1
    try:
        (mnt / "old.npz").write_bytes(b"an earlier complete file")
        p = run(cli, "render", demo_blend(), "-f", "1-4", "-p", "rgba,depth", "-e", "cycles",
                "-s", "1", "--size", "96x72", "-q", "--force", "-o", str(mnt / "old.npz"))
        assert p.returncode == 1, p.stderr.decode()
        line = _one_line(p)
        assert "space" in line or "No space" in line or "output" in line, line
        assert os.listdir(mnt) == ["old.npz"]
        assert (mnt / "old.npz").read_bytes() == b"an earlier complete file"
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_ctrl_c_stops_workers_and_removes_partial_output(cli, demo_blend, tmp_path):
    from test_faults_cli import Cli
    out = tmp_path / "out.npz"
    with Cli(cli, ["render", demo_blend("slow"), "-f", "1-100", "-w", "2", "-o", out],
             tmp_path) as p:  # kills the CLI and its 1M-sample Blenders, whatever happens
        p.wait_for("two workers rendering",
                   lambda: len(_blenders_with_tmpdir(str(p.tmp))) == 2, 60)
        time.sleep(1.0)
        assert p.p.poll() is None and len(_blenders_with_tmpdir(str(p.tmp))) == 2
        t0 = time.time()
        p.p.send_signal(signal.SIGINT)
        assert p.wait(30) == 130, p.stderr
        # the frames in flight take minutes: stopped, not waited for (generous: a loaded
        # machine takes seconds to reap two Blenders)
        assert time.time() - t0 < 15, "Ctrl-C waited for the frames in flight"
        assert p.stderr.strip().splitlines() == [
            f"blendarray: interrupted: workers stopped; {out} was not written (0 frames "
            "rendered, the incomplete archive removed)"], p.stderr
        p.assert_clean()
    assert sorted(os.listdir(tmp_path)) == ["marks", "tmp"]


def test_setup_hook_and_seed_match_python_api(cli, demo_blend, tmp_path):
    hook = os.path.join(ROOT, "tests", "cli", "randomize.py")
    out = tmp_path / "r.npz"
    p = run(cli, "render", demo_blend(), "-n", "4", "-w", "2", "--setup", hook, "--seed", "7",
            "-p", "rgba", "-e", "cycles", "-s", "1", "--size", "48x36", "-q", "-o", str(out))
    assert p.returncode == 0, p.stderr.decode()
    with ba.Renderer(demo_blend(), passes=["rgba"], engine="CYCLES", samples=1,
                     resolution=(48, 36), setup=hook, seed=7, blender="blender") as r:
        want = np.stack([f["rgba"] for f in r.frames(4)])
    got = np.load(out)["rgba"]
    assert same(got, want)
    assert not np.array_equal(got[0], got[1]), "the hook varied the frames"


def test_progress_bar_on_a_terminal(cli, demo_blend, tmp_path):
    import pty
    master, slave = pty.openpty()
    p = subprocess.Popen([cli, "render", demo_blend(), "-f", "1-3", "-p", "rgba", "-e", "cycles",
                          "-s", "1", "--size", "32x24", "-o", str(tmp_path / "o.npz")],
                         stderr=slave, stdout=subprocess.DEVNULL)
    os.close(slave)
    err = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        err += chunk
    p.wait(timeout=120)
    os.close(master)
    assert p.returncode == 0
    assert b"\r[" in err and b"3/3 frames" in err and b"fps" in err and b"ETA" in err


def test_one_line_per_frame_when_not_a_terminal(cli, demo_blend, tmp_path):
    p = run(cli, "render", demo_blend(), "-f", "1-3", "-p", "rgba", "-e", "cycles", "-s", "1",
            "--size", "32x24", "-o", str(tmp_path / "o.npz"))
    lines = p.stderr.decode().splitlines()
    assert p.returncode == 0 and len(lines) == 3 and lines[-1].startswith("frame 3 (3/3)")


def test_kill_9_of_the_cli(cli, demo_blend, tmp_path):
    """Workers die with the CLI; what it could not remove, the next run to that output does."""
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    out = tmp_path / "out.npz"
    p = subprocess.Popen([cli, "render", demo_blend("slow"), "-f", "1-100", "-q", "-o", str(out)],
                         env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline and not _blenders_with_tmpdir(str(tmp_path / "tmp")):
            time.sleep(0.1)
        assert _blenders_with_tmpdir(str(tmp_path / "tmp")), "the worker never started"
        time.sleep(0.5)
        p.kill()
        p.wait()
        deadline = time.time() + 10
        while time.time() < deadline and _blenders_with_tmpdir(str(tmp_path / "tmp")):
            time.sleep(0.1)
        assert not _blenders_with_tmpdir(str(tmp_path / "tmp")), "a worker outlived the CLI"
    finally:  # whatever failed: no 1M-sample Blender left rendering
        if p.poll() is None:
            p.kill()
            p.wait()
        for pid in _blenders_with_tmpdir(str(tmp_path / "tmp")):
            os.kill(pid, signal.SIGKILL)
    assert not out.exists()
    assert os.listdir(tmp_path / "tmp"), "the killed run left its workers' folder"
    p = run(cli, "render", demo_blend(), "-f", "1", "-p", "rgba", "-e", "workbench",
            "--size", "16x12", "-q", "-o", str(out), env=env)
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(os.listdir(tmp_path)) == ["out.npz", "tmp"]
    assert os.listdir(tmp_path / "tmp") == []  # swept, and this run's own removed


def test_scene_pass_names_cannot_escape_the_output(cli, demo_blend, tmp_path):
    """AOV names come from the .blend: '../escape', '/abs', '.hidden' stay inside."""
    out = tmp_path / "o"
    p = run(cli, "render", demo_blend("evilnames"), "-f", "1", "-e", "cycles", "-q",
            "-o", str(out) + "/")
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(os.listdir(tmp_path)) == ["o"]
    names = sorted(os.listdir(out))
    assert all("/" not in n and not n.startswith(".") for n in names), names
    assert len(names) == 5 and "rgba_0001.npy" in names, names  # rgba, 3 AOVs, meta_0001.json
    assert "_abs_0001.npy" in names and "_hidden_0001.npy" in names, names
    z = tmp_path / "z.npz"
    p = run(cli, "render", demo_blend("evilnames"), "-f", "1", "-e", "cycles", "-q", "-o", str(z))
    assert p.returncode == 0, p.stderr.decode()
    import zipfile
    members = zipfile.ZipFile(z).namelist()
    assert all("/" not in m and not m.startswith(".") for m in members), members


# ---------------------------------------------------------------------------
# metadata: every output mode holds frame.meta, as the Python API gives it

HOOK = os.path.join(ROOT, "tests", "cli", "randomize.py")
TIMING = {"render_seconds", "capture_seconds", "display_seconds", "worker"}


def comparable(meta):
    """frame.meta without what depends on timing (and on which worker rendered)."""
    return {k: v for k, v in meta.items() if k not in TIMING}


@pytest.fixture(scope="module")
def hooked_reference(demo_blend):
    """The Python API's frames 1-3 of the demo scene, with the CLI tests' setup hook."""
    with ba.Renderer(demo_blend(), passes=["rgba", "depth", "object_index"], engine="CYCLES",
                     samples=1, resolution=(48, 36), setup=HOOK, seed=7, blender="blender") as r:
        return [f.copy() for f in r.frames(range(1, 4))]


@pytest.mark.parametrize("mode", ["npz", "folder", "stack", "stream"])
def test_metadata_equals_python_api(cli, demo_blend, hooked_reference, tmp_path, mode):
    out = {"npz": str(tmp_path / "o.npz"), "folder": str(tmp_path / "o") + "/",
           "stack": str(tmp_path / "o") + "/", "stream": "-"}[mode]
    p = run(cli, "render", demo_blend(), "-f", "1-3", *COMMON, "-w", "2", "--setup", HOOK,
            "--seed", "7", *(["--stack"] if mode == "stack" else []), "-o", out)
    assert p.returncode == 0, p.stderr.decode()
    if mode == "npz":
        with np.load(out) as z:
            raw = z["meta.json"]
            assert isinstance(raw, bytes)  # a plain member, not an array
            metas = json.loads(raw)
    elif mode == "folder":
        metas = [json.loads((tmp_path / "o" / f"meta_{i:04d}.json").read_text()) for i in (1, 2, 3)]
    elif mode == "stack":
        metas = json.loads((tmp_path / "o" / "meta.json").read_text())
    else:
        frames = list(ba.read_stream(io.BytesIO(p.stdout)))
        metas = [f.meta for f in frames]
        for got, want in zip(frames, hooked_reference):  # and the arrays, named
            assert list(got) == ["rgba", "depth", "object_index"]
            for name in got:
                assert same(got[name], want[name]), name
    if mode in ("folder", "stack"):  # written atomically: no temporary file left beside them
        assert all(not n.startswith(".") for n in os.listdir(tmp_path / "o"))
    assert sorted(os.listdir(tmp_path)) == ([] if mode == "stream" else ["o.npz" if mode == "npz" else "o"])
    assert isinstance(metas, list) and len(metas) == 3
    for got, want in zip(metas, hooked_reference):
        assert "angle" in want.meta and "K" in want.meta and "passes" in want.meta
        assert comparable(got) == comparable(want.meta)
    assert [m["index"] for m in metas] == [0, 1, 2] and [m["frame"] for m in metas] == [1, 2, 3]
    assert len({m["angle"] for m in metas}) == 3  # the hook's values, one per frame


@pytest.mark.parametrize("name", ["a.txt", "out", "x.npy", "a.npz.part"])
def test_unknown_output_is_refused(cli, demo_blend, tmp_path, name):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p = run(cli, "render", demo_blend(), "-f", "1", *COMMON, "-o", str(tmp_path / name),
            env=dict(os.environ, TMPDIR=str(tmp)))
    line = _one_line(p)
    assert p.returncode == 2, line  # bad usage
    assert name in line and ".npz" in line and "folder/" in line and "-o -" in line, line
    assert sorted(os.listdir(tmp_path)) == ["tmp"] and os.listdir(tmp) == []  # no worker started


# ---------------------------------------------------------------------------
# preview of a real render: depth scaled without its background, tiles labelled

NO_GROUND = os.path.join(ROOT, "tests", "cli", "no_ground.py")


@pytest.mark.parametrize("blender,engine", [("blender", "cycles"), ("blender", "eevee"),
                                            ("blender", "workbench"), ("bpy", "eevee")])
def test_preview_of_a_render(cli, demo_blend, tmp_path, blender, engine):
    from PIL import Image
    w, h, gap = 96, 72, 4
    flavour = ["--blender", "bpy", "--python", sys.executable] if blender == "bpy" else []
    out = tmp_path / "r.npz"
    p = run(cli, "render", demo_blend(), "-f", "1", "-p", "rgba,depth", "-e", engine,
            "--size", f"{w}x{h}", "-q", "--setup", NO_GROUND, *flavour, "-o", str(out))
    assert p.returncode == 0, p.stderr.decode()
    depth = np.load(out)["depth"][0]
    background = depth == depth.max()  # 1e10, 65504 or the clip end, by engine and Blender
    assert depth.max() > 50 and 0.05 < 1 - background.mean() < 0.5, (depth.max(), background.mean())
    for args, png in ((["--no-labels"], "plain.png"), ([], "sheet.png")):
        p = run(cli, "preview", str(out), "-o", str(tmp_path / png), *args)
        assert p.returncode == 0, p.stderr.decode()
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB"))
    sheet = np.asarray(Image.open(tmp_path / "sheet.png").convert("RGB"))
    assert plain.shape == sheet.shape == (h, 2 * w + gap, 3)

    # the depth tile is not flat: its foreground spans many grey levels; background black
    tile = plain[:, w + gap:]
    grey = np.asarray(Image.open(tmp_path / "plain.png").convert("L"))[:, w + gap:][~background]
    assert len(np.unique(grey)) >= 20 and int(grey.max()) - int(grey.min()) >= 100, \
        (len(np.unique(grey)), grey.min(), grey.max())
    assert (tile[background] == 0).all()

    # labels: each tile's name, white, at its top-left corner, and nothing else changed
    changed = (sheet != plain).any(axis=2)
    for k, name in enumerate(["rgba", "depth"]):
        x0 = k * (w + gap)
        ys, xs = np.nonzero(changed[:, x0:x0 + w])
        assert len(ys) > 0, f"no label on the {name} tile"
        assert ys.max() < 16 and xs.max() < 8 * len(name), (name, ys.max(), xs.max())
        white = (sheet[:16, x0:x0 + 8 * len(name)] == 255).all(axis=2).sum()
        assert white >= 5 * len(name), (name, white)
    assert not changed[16:].any()


# ---------------------------------------------------------------------------
# a worker that crashes: Blender's crash report, named after the .blend, attached


def _children(pid):
    kids = []
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/children") as f:
                kids += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return kids


def test_crash_report_is_attached(cli, demo_blend, tmp_path):
    import shutil
    import threading
    scene = tmp_path / "mycrash.blend"  # Blender names its report mycrash.crash.txt
    shutil.copy(demo_blend("slow"), scene)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    p = subprocess.Popen([cli, "render", str(scene), "-f", "1-3", "--retries", "0", "-v",
                          "-o", str(tmp_path / "o.npz")], env=dict(os.environ, TMPDIR=str(tmp)),
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = []
    reader = threading.Thread(target=lambda: err.extend(iter(p.stderr.readline, b"")), daemon=True)
    reader.start()
    try:
        deadline = time.time() + 120
        while time.time() < deadline and b"Sample " not in b"".join(err):  # -v: Blender's output
            time.sleep(0.1)
        assert b"Sample " in b"".join(err), "the render did not start"
        (worker,) = _children(p.pid)
        os.kill(worker, signal.SIGSEGV)
        p.wait(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        for pid in _blenders_with_tmpdir(str(tmp)):  # a 1M-sample Blender, by PID
            os.kill(pid, signal.SIGKILL)
    reader.join(timeout=10)
    text = b"".join(err).decode(errors="replace")
    assert p.returncode == 1, text[-3000:]
    assert "SIGSEGV" in text
    head = "crash report (mycrash.crash.txt)"
    assert head in text, text[-3000:]
    report = text.split(head, 1)[1]
    assert "# Blender" in report and "# backtrace" in report, report[:2000]
    assert sorted(os.listdir(tmp_path)) == ["mycrash.blend", "tmp"] and os.listdir(tmp) == []
    assert not _blenders_with_tmpdir(str(tmp))


# ---------------------------------------------------------------------------
# an image too large for memory is refused inside the worker, before rendering


@pytest.mark.blender  # (the worker starts; the size is refused before it renders)
def test_huge_size_is_refused_before_rendering(cli, tmp_path):
    import resource
    tmp = tmp_path / "tmp"
    tmp.mkdir()

    def limit_memory():  # should the check be gone, fail fast rather than fill the machine
        resource.setrlimit(resource.RLIMIT_AS, (6 << 30, 6 << 30))

    t0 = time.time()
    p = subprocess.run([cli, "render", "-p", "rgba", "--size", "60000x60000", "-o",
                        str(tmp_path / "x.npz")], capture_output=True, timeout=60,
                       env=dict(os.environ, TMPDIR=str(tmp)), preexec_fn=limit_memory)
    assert time.time() - t0 < 60
    line = _one_line(p)
    assert p.returncode == 1 and "60000x60000" in line, line
    assert sorted(os.listdir(tmp_path)) == ["tmp"] and os.listdir(tmp) == []
    assert not _blenders_with_tmpdir(str(tmp))


@pytest.mark.parametrize("engine", ["cycles", "eevee", "workbench"])
def test_default_scene(cli, demo_blend, tmp_path, engine):
    """Blender's factory-startup scene (saved by Debian's Blender, built without
    OpenImageDenoise): Cycles renders without the denoising the scene asks for and
    says so once on stderr and in every frame's meta; the others say nothing."""
    out = tmp_path / "d.npz"
    p = run(cli, "render", demo_blend("default"), "-f", "1-2", "-p", "rgba,depth", "-e", engine,
            "-s", "1", "--size", "64x36", "-q", "-o", str(out))
    assert p.returncode == 0, p.stderr.decode()
    err = p.stderr.decode()
    with np.load(out) as z:
        metas = json.loads(z["meta.json"])
        depth = z["depth"]
    assert depth.shape == (2, 36, 64) and 9.0 < depth[0, 18, 32] < 11.3  # the cube, ~10 m away
    if engine == "cycles":
        assert err.count("blendarray: warning: Cycles denoising is on") == 1, err
        assert all(len(m["warnings"]) == 1 and "without denoising" in m["warnings"][0]
                   for m in metas)
    else:
        assert "warning" not in err and all(m["warnings"] == [] for m in metas), err


@pytest.mark.parametrize("how", [["-n", "3"], ["-f", "5,5,7"]])
def test_folder_numbers_files_by_index_when_frames_repeat(cli, demo_blend, tmp_path, how):
    """--count N renders one scene frame N times (a frame list may repeat one): the
    folder's files are then numbered by index, so no frame overwrites another."""
    hook = os.path.join(ROOT, "tests", "cli", "randomize.py")
    d = tmp_path / "f"
    p = run(cli, "render", demo_blend(), *how, "-p", "rgba", "-e", "workbench", "--size", "32x24",
            "-q", "--setup", hook, "--seed", "3", "-o", f"{d}/")
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(os.listdir(d)) == [f"{k}_{i:04d}.{e}" for k, e in (("meta", "json"), ("rgba", "npy"))
                                     for i in range(3)]
    metas = [json.loads((d / f"meta_{i:04d}.json").read_text()) for i in range(3)]
    assert [m["index"] for m in metas] == [0, 1, 2]
    frames = [np.load(d / f"rgba_{i:04d}.npy") for i in range(3)]
    assert not np.array_equal(frames[0], frames[1]), "each index is its own render"
    with ba.Renderer(demo_blend(), passes=["rgba"], engine="WORKBENCH", resolution=(32, 24),
                     setup=hook, seed=3, blender="blender") as r:
        want = [f["rgba"].copy() for f in r.frames([{"frame": int(x)} for x in how[1].split(",")]
                                                   if how[0] == "-f" else 3)]
    for a, b in zip(frames, want):
        assert same(a, b)


def test_per_frame_params_and_a_module_hook(cli, demo_blend, reference, tmp_path):
    """--params: one JSON object per line, one frame each: its frame number and settings
    apply, its own keys reach a MODULE:FUNCTION hook (imported by Blender from the
    user's PYTHONPATH), and the arrays equal the Python API's for the same frames."""
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "tagger.py").write_text(
        "def setup(scene, index, rng, params):\n"
        "    return {'tag': params['tag'], 'frame_seen': scene.frame_current}\n")
    (tmp_path / "p.jsonl").write_text('{"frame": 3, "tag": "c"}\n\n{"frame": 1, "tag": "a"}\n')
    out = tmp_path / "out.npz"
    env = dict(os.environ, PYTHONPATH=str(lib))
    p = run(cli, "render", demo_blend(), "--params", str(tmp_path / "p.jsonl"), *COMMON,
            "--setup", "tagger:setup", "-o", str(out), env=env)
    assert p.returncode == 0, p.stderr.decode()
    with np.load(out) as z:
        meta = json.loads(z["meta.json"])
        assert [(m["tag"], m["frame_seen"], m["index"]) for m in meta] == [("c", 3, 0), ("a", 1, 1)]
        assert same(z["rgba"][0], reference[2]["rgba"]) and same(z["rgba"][1], reference[0]["rgba"])


def test_bad_params_file_is_a_usage_error(cli, tmp_path):
    (tmp_path / "p.jsonl").write_text('{"frame": 3}\n[1, 2]\n')
    p = run(cli, "render", "--params", str(tmp_path / "p.jsonl"), "-o", str(tmp_path / "o.npz"))
    assert p.returncode == 2 and b"line 2: not a JSON object" in p.stderr, p.stderr
    p = run(cli, "render", "--params", str(tmp_path / "p.jsonl"), "-f", "1",
            "-o", str(tmp_path / "o.npz"))
    assert p.returncode == 2 and b"one of --frames, --count and --params" in p.stderr
    assert sorted(os.listdir(tmp_path)) == ["p.jsonl"]
