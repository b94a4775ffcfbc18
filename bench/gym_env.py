"""Blender as a Gymnasium environment (blendarray.gym): steps per second of the
example environment (examples/gym_cube.py: 64x64, the display image as the
observation, random actions, a reset when an episode ends) against Blender's own
loop making the same scene changes, and blendtorch's way, in one run:

  blender   Blender's own loop: step + render, no output (the ceiling)
  capture   the same loop, the observation captured in Blender as env makes it (the
            same work as env, without its transport)
  env       BlenderEnv.step, observations touched
  pickle    blendtorch's way: one Blender loop, each action sent over a Unix socket,
            the observation captured and pickled back (the same capture as env)
  vec2      BlenderVectorEnv(2) (env steps per second: 2 per call), one thread per
            worker, against env with one thread; bl x2: two Blender loops (capture)
            side by side, one thread each, against one: what this machine allows

    .venv/bin/python bench/gym_env.py [--steps 600] [--repeat 3] [--engine WORKBENCH,CYCLES]
    .venv/bin/python bench/gym_env.py --smoke

The Blender loops run in the bpy module's Python (the .venv's). Each
measurement runs --repeat times, interleaved; the table shows medians and
ratios: env / blender (goal >= 90%), env / capture, pickle / env, vec2 / env
with one thread (goal >= 1.7x). --smoke: the tiniest run to the end (20 steps, 1 repeat, 2
warm-up steps, Workbench): what the test suite runs; its figures mean nothing.
"""
import argparse
import os
import pickle
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

here = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(here, ".."))
sys.path.insert(0, os.path.join(REPO, "build", "dev", "python"))
sys.path.insert(0, os.path.join(REPO, "examples"))
import gym_cube  # noqa: E402

SCRIPT = os.path.join(here, "gym_blender.py")


def blender_loop(mode, n, engine, threads, warm, seed=0, copies=1):
    """Steps per second of the example in Blender's own loop (mode none, capture or
    pickle); copies: that many loops side by side (none, capture), their sum."""
    cmd = [sys.executable, SCRIPT, mode, str(n), engine, str(threads), str(warm), str(seed)]
    if mode in ("none", "capture"):
        procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(copies)]
        fps = 0.0
        for p in procs:
            out, err = p.communicate(timeout=1800)
            fps += _fps(out, err, p.returncode)
        return fps
    tmp = tempfile.mkdtemp(prefix="ba-gym-bench-")
    path = os.path.join(tmp, "s")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    srv.listen(1)
    p = subprocess.Popen(cmd + [path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    rng = np.random.default_rng(seed)

    def agent():
        conn, _ = srv.accept()
        f = conn.makefile("rb")
        for _ in range(n + warm):
            conn.sendall(bytes([int(rng.integers(3))]))
            head = f.read(8)
            obs, reward, done, _, _ = pickle.loads(f.read(struct.unpack("<Q", head)[0]))
            obs[0, 0]  # touch
        conn.close()

    t = threading.Thread(target=agent, daemon=True)
    t.start()
    try:
        out, err = p.communicate(timeout=1800)
        t.join(timeout=30)
        return _fps(out, err, p.returncode)
    finally:
        srv.close()
        if p.poll() is None:
            p.kill()
        subprocess.run(["rm", "-rf", tmp])


def _fps(out, err, rc):
    line = [x for x in out.splitlines() if x.startswith("FPS ")]
    if rc != 0 or not line:
        raise RuntimeError(f"the Blender loop failed:\n{out[-2000:]}\n{err[-2000:]}")
    return float(line[0].split()[1])


def env_loop(n, engine, threads, warm, seed=0):
    rng = np.random.default_rng(seed)
    with gym_cube.make_env(engine=engine, samples=1, threads=threads or None,
                           blender="bpy") as env:
        env.reset(seed=seed)
        for i in range(n + warm):
            if i == warm:
                t0 = time.perf_counter()
            obs, reward, terminated, truncated, _ = env.step(int(rng.integers(3)))
            obs[0, 0]  # touch
            if terminated or truncated:
                env.reset()
        return n / (time.perf_counter() - t0)


def vec_loop(n, engine, warm, seed=0, num_envs=2):
    """Environment steps per second (num_envs per call), one thread per worker."""
    rng = np.random.default_rng(seed)
    with gym_cube.make_vec_env(num_envs, engine=engine, samples=1, threads=1,
                               blender="bpy") as vec:
        vec.reset(seed=seed)
        calls = max(1, n // num_envs)
        for i in range(calls + warm):
            if i == warm:
                t0 = time.perf_counter()
            obs, *_ = vec.step(rng.integers(3, size=num_envs))
            obs[0, 0, 0]
        return calls * num_envs / (time.perf_counter() - t0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--engine", default="WORKBENCH,CYCLES")
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (20 steps, 1 repeat, Workbench): what the "
                         "test suite runs; its figures mean nothing")
    a = ap.parse_args()
    warm = 20
    engines = a.engine.split(",")
    if a.smoke:
        a.steps, a.repeat, warm, engines = 20, 1, 2, ["WORKBENCH"]
    n = a.steps
    print(f"examples/gym_cube.py, 64x64, display image; {n} steps after {warm}; steps per "
          f"second, median of {a.repeat} interleaved runs")
    print(f"{'engine':10} {'blender':>8} {'capture':>8} {'env':>8} {'env/bl':>7} {'env/cap':>7} "
          f"{'pickle':>8} {'pk/env':>7} {'cap 1t':>8} {'cap x2':>8} {'x2/1t':>6} {'env 1t':>8} "
          f"{'vec2':>8} {'vec2/env1t':>10}")
    for engine in engines:
        runs = {k: [] for k in ("blender", "capture", "env", "pickle", "capture1", "capture2",
                                "env1", "vec2")}
        for _ in range(a.repeat):
            runs["blender"].append(blender_loop("none", n, engine, 0, warm))
            runs["capture"].append(blender_loop("capture", n, engine, 0, warm))
            runs["env"].append(env_loop(n, engine, 0, warm))
            runs["pickle"].append(blender_loop("pickle", n, engine, 0, warm))
            runs["capture1"].append(blender_loop("capture", n, engine, 1, warm))
            runs["capture2"].append(blender_loop("capture", n, engine, 1, warm, copies=2))
            runs["env1"].append(env_loop(n, engine, 1, warm))
            runs["vec2"].append(vec_loop(n, engine, warm))
        m = {k: statistics.median(v) for k, v in runs.items()}
        print(f"{engine:10} {m['blender']:8.1f} {m['capture']:8.1f} {m['env']:8.1f} "
              f"{m['env'] / m['blender']:6.0%} {m['env'] / m['capture']:6.0%} {m['pickle']:8.1f} {m['pickle'] / m['env']:6.0%} {m['capture1']:8.1f} "
              f"{m['capture2']:8.1f} {m['capture2'] / m['capture1']:5.2f}x {m['env1']:8.1f} {m['vec2']:8.1f} {m['vec2'] / m['env1']:9.2f}x", flush=True)


if __name__ == "__main__":
    main()
