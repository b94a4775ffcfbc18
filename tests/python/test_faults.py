"""Faults and abuse: worker kills at random points of a long stream, a long
soak with a memory bound, two renderers at once, and a worker that refuses a
control socket that is not its parent's."""
import os
import random
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

import blendarray as ba
from support import PACKAGE_DIR, ROOT
from test_bad_input import _children, leaves_nothing  # noqa: F401

HOOK = os.path.join(ROOT, "tests", "cli", "randomize.py")
KW = dict(passes=["rgba", "object_index"], engine="CYCLES", samples=1, resolution=(32, 24),
          setup=HOOK, seed=5)


def test_random_worker_kills_lose_nothing(scenes, flavour, leaves_nothing):
    n = 200
    with ba.Renderer(scenes("demo"), workers=2, blender=flavour, **KW) as r:
        reference = [f["rgba"].copy() for f in r.frames(n)]
    rng = random.Random(1)
    kill_at = sorted(rng.sample(range(10, n - 10), 4))
    got, kills = [], 0
    with ba.Renderer(scenes("demo"), workers=2, retries=2, blender=flavour, **KW) as r:
        for f in r.frames(n):
            got.append((f.meta["index"], f["rgba"].copy()))
            if kill_at and len(got) == kill_at[0]:
                kill_at.pop(0)
                victims = _children()
                os.kill(rng.choice(victims), signal.SIGKILL)
                kills += 1
    assert kills == 4
    assert [i for i, _ in got] == list(range(n)), "every frame exactly once, in order"
    for (i, a), b in zip(got, reference):
        assert a.tobytes() == b.tobytes(), f"frame {i} differs from the undisturbed run"


def _rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024


@pytest.mark.slow
def test_soak_10000_frames_memory_stays_flat(scenes, flavour, leaves_nothing):
    if flavour != "blender":  # one flavour is enough for the memory bound (bench/soak.py does both)
        pytest.skip("the soak runs on the blender flavour only (bench/soak.py does both)")
    samples = []
    # 1 sample (Workbench's anti-aliasing): the same 10,000 frames through the same
    # memory, in half the time of the scene's 8
    with ba.Renderer(scenes("demo"), passes=["rgba", "depth"], engine="WORKBENCH", samples=1,
                     resolution=(64, 64), blender=flavour) as r:
        for f in r.frames(10000):
            i = f.meta["index"]
            if i % 500 == 0 or i == 9999:
                samples.append((i, _rss(os.getpid()), _rss(_children()[0])))
    print("\nframe  consumer MiB  worker MiB")
    for i, c, w in samples:
        print(f"{i:5d}  {c:12.1f}  {w:10.1f}")
    first, last = samples[1], samples[-1]  # from frame 500: after warm-up
    assert last[1] - first[1] < 8, f"consumer grew {last[1] - first[1]:.1f} MiB"
    assert last[2] - first[2] < 24, f"worker grew {last[2] - first[2]:.1f} MiB"


def test_two_renderers_in_one_process(scenes, flavour, leaves_nothing):
    a = ba.Renderer(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                    resolution=(32, 24), ring=8, blender=flavour)  # the test keeps every frame
    b = ba.Renderer(scenes("quadrant"), passes=["rgba"], engine="CYCLES", samples=1, ring=8,
                    blender=flavour)
    with a, b:
        fa, fb = a.frames(6), b.frames(6)
        pairs = [(next(fa), next(fb)) for _ in range(6)]
    for x, y in pairs:
        assert x["rgba"].shape == (24, 32, 4) and y["rgba"].shape == (48, 64, 4)
        assert abs(y["rgba"][12, 16, 0] - 1.0) < 1e-6  # the quadrant scene's orange square
        assert x["rgba"][12, 16, 0] != y["rgba"][12, 16, 0] or x["rgba"][12, 16, 1] != y["rgba"][12, 16, 1]
        assert not np.shares_memory(x["rgba"], y["rgba"])


def test_worker_refuses_a_socket_that_is_not_its_parents(tmp_path):
    """The socket's creator (this process) is not the worker's parent (a middleman)."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    middleman = (
        "import os, subprocess, sys\n"
        "env = dict(os.environ, BLENDARRAY_FD=sys.argv[1], BLENDARRAY_PARENT=str(os.getpid()),"
        " PYTHONPATH=%r)\n"
        "p = subprocess.run([sys.executable, '-c', 'import blendarray.blender.worker as w, os;"
        " os._exit(w.main())'], env=env, pass_fds=[int(sys.argv[1])], capture_output=True,"
        " text=True)\n"
        "print(p.returncode); print(p.stderr)\n" % PACKAGE_DIR)
    p = subprocess.run([sys.executable, "-c", middleman, str(theirs.fileno())],
                       pass_fds=[theirs.fileno()], capture_output=True, text=True, timeout=120)
    theirs.close()
    out = p.stdout.splitlines()
    assert out[0] == "3", p.stdout + p.stderr
    assert "not my parent" in p.stdout
    ours.settimeout(5)
    assert ours.recv(10) == b""  # it never answered; it closed the socket
    ours.close()


def test_no_network_port_open(scenes, flavour):
    """Workers talk over an inherited socketpair only: no TCP/UDP socket anywhere."""
    with ba.Renderer(scenes("demo"), passes=["rgba"], engine="WORKBENCH", resolution=(32, 24),
                     blender=flavour) as r:
        next(r.frames(1))
        inet = set()
        for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
            try:
                with open(f"/proc/net/{table}") as f:
                    inet |= {line.split()[9] for line in f.readlines()[1:]}
            except OSError:
                pass
        for pid in [os.getpid()] + _children():
            for fd in os.listdir(f"/proc/{pid}/fd"):
                try:
                    link = os.readlink(f"/proc/{pid}/fd/{fd}")
                except OSError:
                    continue
                if link.startswith("socket:["):
                    assert link[8:-1] not in inet, f"pid {pid} holds an internet socket"
