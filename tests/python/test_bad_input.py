"""Bad input and faults: a clear error, and nothing left behind (no Blender
process, no temporary directory, no memfd)."""
import gc
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import blendarray as ba
from support import PACKAGE_DIR, ROOT


def _children():
    me, out = os.getpid(), []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                out.append(int(pid))
    return out


def _tmpdirs():
    return {d for d in os.listdir(tempfile.gettempdir()) if d.startswith("blendarray-")}


def _memfds():
    """blendarray memfds this process still holds: as open fds, and as mappings (a
    frame memfd is closed right after mmap, so a leaked frame shows only in maps)."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if "memfd:blendarray" in os.readlink(f"/proc/self/fd/{fd}"):
                out.append(fd)
        except OSError:
            pass
    with open("/proc/self/maps") as f:
        out += [line.split()[-2] + " (mapped)" for line in f if "memfd:blendarray" in line]
    return out


def kill_started(prefix):
    """Kill every Blender that a consumer started with TMPDIR under prefix (by pid):
    a failing test must not leave a million-sample render running."""
    for pid in _blenders_with_tmpdir(prefix):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.fixture
def leaves_nothing():
    before = _tmpdirs()
    yield
    gc.collect()
    assert _children() == [], "a Blender process was left running"
    assert _tmpdirs() - before == set(), "a temporary directory was left behind"
    assert _memfds() == [], "a memfd was left open"


def test_missing_scene(leaves_nothing, tmp_path):
    with pytest.raises(ba.SceneNotFoundError, match="does not exist"):
        ba.render(tmp_path / "nope.blend")
    with pytest.raises(FileNotFoundError):  # also a FileNotFoundError, as Python users expect
        ba.render(str(tmp_path / "nope.blend"))


def test_directory_is_not_a_scene(leaves_nothing, tmp_path):
    with pytest.raises(ba.SceneError, match="is a directory"):
        ba.render(tmp_path)


def test_not_a_blend_file(leaves_nothing, tmp_path):
    p = tmp_path / "image.blend"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ba.SceneError, match="not a .blend file"):
        ba.render(p)


def test_corrupt_blend_file(flavour, leaves_nothing, tmp_path):
    p = tmp_path / "broken.blend"
    p.write_bytes(b"BLENDER-v304" + os.urandom(2000))
    with pytest.raises(ba.SceneError, match="cannot open"):
        ba.render(p, blender=flavour)


def test_unknown_pass(flavour, scenes, leaves_nothing):
    with pytest.raises(ba.PassError) as e:
        ba.render(scenes("quadrant"), passes=["rgba", "dpeth"], blender=flavour)
    assert "dpeth" in str(e.value) and "depth" in str(e.value)
    assert "depth" in e.value.available


def test_pass_the_engine_cannot_produce(flavour, scenes, leaves_nothing):
    with pytest.raises(ba.PassError) as e:
        ba.render(scenes("quadrant"), engine="WORKBENCH", passes=["object_index"], blender=flavour)
    assert "object_index" in str(e.value) and "rgba" in str(e.value)


def test_scene_without_camera(flavour, scenes, leaves_nothing):
    with pytest.raises(ba.SceneError, match="no camera"):
        ba.render(scenes("nocamera"), blender=flavour)


@pytest.mark.parametrize("res", [(0, 10), (10, 0), (-5, 10), (70000, 10), (60000, 60000),
                                 ("wide", 10), (10.5, 10), (10,), None.__class__])
def test_bad_resolution(res, leaves_nothing):
    with pytest.raises(ba.SceneError, match="resolution"):
        ba.render(resolution=res)


def test_bad_engine_and_samples(flavour, scenes, leaves_nothing):
    with pytest.raises(ba.SceneError, match="unknown engine"):
        ba.render(scenes("quadrant"), engine="LUXCORE", blender=flavour)
    with pytest.raises(ba.SceneError, match="samples"):
        ba.render(scenes("quadrant"), engine="CYCLES", samples=0, blender=flavour)


def test_no_blender_found(tmp_path):
    code = ("import sys; sys.path.insert(0, %r); import blendarray as ba\n"
            "try:\n    ba.render()\nexcept ba.BlenderNotFoundError as e:\n    print(e); sys.exit(3)\n"
            % PACKAGE_DIR)
    # Debian's own Python: it has NumPy but no bpy; and no blender on PATH.
    p = subprocess.run(["/usr/bin/python3", "-c", code], capture_output=True, text=True,
                       env={"PATH": str(tmp_path)})
    assert p.returncode == 3, p.stdout + p.stderr
    assert "apt-get install blender" in p.stdout and "pip install bpy" in p.stdout


def test_named_blender_missing(leaves_nothing):
    with pytest.raises(ba.BlenderNotFoundError, match="does not exist"):
        ba.render(blender="/opt/no/blender")


def _kill_worker_later(sig, delay):
    def run():
        deadline = time.time() + 60
        while time.time() < deadline:
            kids = _children()
            if kids:
                time.sleep(delay)
                for pid in _children():
                    os.kill(pid, sig)
                return
            time.sleep(0.02)
    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGSEGV])
def test_blender_dies_mid_render(flavour, scenes, leaves_nothing, sig):
    t = _kill_worker_later(sig, 1.5)
    with pytest.raises(ba.WorkerError) as e:
        ba.render(scenes("slow"), blender=flavour)
    t.join()
    msg = str(e.value)
    assert signal.Signals(sig).name in msg or "exited with status" in msg, msg
    assert "last output" in msg and e.value.output, msg


def test_timeout_stops_blender(flavour, scenes, leaves_nothing):
    t0 = time.time()
    with pytest.raises(ba.WorkerError, match="within 2 s"):
        ba.render(scenes("slow"), blender=flavour, timeout=2)
    assert time.time() - t0 < 30


def test_success_leaves_nothing(flavour, scenes, leaves_nothing):
    f = ba.render(scenes("quadrant"), passes=["rgba"], blender=flavour)
    assert f["rgba"].shape == (48, 64, 4)
    del f


def test_interrupted_consumer_stops_blender(flavour, scenes, tmp_path):
    """Ctrl-C (SIGINT) in the consumer: Blender is stopped, nothing stays."""
    code = ("import sys; sys.path.insert(0, %r); import blendarray as ba\n"
            "try:\n    ba.render(%r, blender=%r)\n"
            "except KeyboardInterrupt:\n    print('interrupted'); sys.exit(4)\n"
            % (PACKAGE_DIR, scenes("slow"), flavour))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not _blenders_with_tmpdir(str(tmp_path)):
            time.sleep(0.1)
        assert _blenders_with_tmpdir(str(tmp_path)), "the worker never started"
        time.sleep(1.0)
        p.send_signal(signal.SIGINT)
        out, _ = p.communicate(timeout=60)
        assert p.returncode == 4 and "interrupted" in out
        assert os.listdir(tmp_path) == []
        assert not _blenders_with_tmpdir(str(tmp_path))
    finally:
        p.kill()
        kill_started(str(tmp_path))


def test_killed_consumer_takes_blender_down(flavour, scenes, tmp_path):
    """kill -9 of the consumer: the worker dies with it (PR_SET_PDEATHSIG)."""
    code = ("import sys; sys.path.insert(0, %r); import blendarray as ba\n"
            "ba.render(%r, blender=%r)\n" % (PACKAGE_DIR, scenes("slow"), flavour))
    env = dict(os.environ, TMPDIR=str(tmp_path))
    p = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.time() + 30
        while time.time() < deadline and not _blenders_with_tmpdir(str(tmp_path)):
            time.sleep(0.1)
        assert _blenders_with_tmpdir(str(tmp_path)), "the worker never started"
        p.kill()
        p.wait()
        deadline = time.time() + 10
        while time.time() < deadline and _blenders_with_tmpdir(str(tmp_path)):
            time.sleep(0.1)
        assert not _blenders_with_tmpdir(str(tmp_path)), "the worker outlived its consumer"
    finally:
        p.kill()
        kill_started(str(tmp_path))


def _blenders_with_tmpdir(prefix):
    """Live processes whose TMPDIR lies under prefix (the workers of a consumer we started)."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                env = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z" and any(e.startswith(b"TMPDIR=" + prefix.encode() + b"/blendarray-")
                                for e in env):
            found.append(int(pid))
    return found


ROGUE = os.path.join(ROOT, "tests", "python", "rogue_worker.py")
# what a rogue worker gets, through Python and the CLI alike (tests/cli/test_faults_cli.py)
ROGUE_CASES = [
    ("version", "speaks worker protocol version 99"),
    ("malformed", "broke the worker protocol: its reply is not a JSON object"),
    ("outside", "described an array that does not lie inside the memory it sent"),
]


@pytest.mark.parametrize("mode, message", ROGUE_CASES)
def test_rogue_worker_is_a_clear_error(mode, message, leaves_nothing, monkeypatch):
    """A worker that answers with an unknown protocol version, a malformed reply, or an
    array outside its memory: a WorkerError naming the worker, nothing left behind."""
    monkeypatch.setenv("ROGUE", mode)
    monkeypatch.setenv("ROGUE_PYTHONPATH", PACKAGE_DIR)
    t0 = time.time()
    with pytest.raises(ba.WorkerError, match=message) as e:
        with ba.Renderer(passes=["rgba"], blender=ROGUE, retries=1) as r:
            r.render()
    assert "worker 0" in str(e.value)
    assert time.time() - t0 < 30
