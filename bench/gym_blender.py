"""The in-Blender half of bench/gym_env.py: the example environment
(examples/gym_cube.py) stepped by Blender's own loop, in one of two ways:

  none     reset, then step + render, step + render, ... (a reset + render
           when an episode ends); no output: the ceiling
  capture  the same, and the observation captured (the display image, as the
           environment makes it), kept in this process: the same work, no transport
  pickle   blendtorch's way: each action arrives over a Unix socket; step,
           render, capture the observation (the display image) and send it
           back pickled, with the reward and flags

    python gym_blender.py MODE N ENGINE THREADS WARMUP SEED [SOCKET]    (the bpy module's Python)

Prints "FPS <steps per second>" and "CPU_MS <this process's CPU milliseconds a
step>" over the last N steps (WARMUP steps first).
"""
import os
import pickle
import socket
import struct
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "build", "dev", "python"))
sys.path.insert(0, os.path.join(here, "..", "examples"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

import blendarray.blender as bab  # noqa: E402
from blendarray.blender import scenes  # noqa: E402
import gym_cube  # noqa: E402  (its reset and step, as the environment runs them)

mode, n, engine, threads, warm, seed = (sys.argv[1], int(sys.argv[2]), sys.argv[3],
                                        int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]))
scenes.build_demo()
sc = bab.configure(engine=engine, samples=1, resolution=(64, 64), threads=threads or None)
rng = np.random.default_rng(seed)
episode = np.random.default_rng(seed)


def render():
    bpy.ops.render.render()
    if mode in ("pickle", "capture"):
        return bab.capture(passes=[], display=True)["display"]
    return None


if mode == "pickle":
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(sys.argv[7])
    f = sock.makefile("rb")

    def action():
        return f.read(1)[0]

    def send(obs, reward, done):
        data = pickle.dumps((obs, reward, done, False, {}), protocol=pickle.HIGHEST_PROTOCOL)
        sock.sendall(struct.pack("<Q", len(data)) + data)
else:
    def action():
        return int(rng.integers(3))

    def send(obs, reward, done):
        pass

gym_cube.reset(sc, np.random.default_rng(episode.integers(2**63 - 1)), None)
render()
for i in range(n + warm):
    if i == warm:
        t0, c0 = time.perf_counter(), time.process_time()
    reward, terminated, truncated, info = gym_cube.step(sc, action())
    obs = render()
    if terminated or truncated:
        gym_cube.reset(sc, np.random.default_rng(episode.integers(2**63 - 1)), None)
        obs = render()
    send(obs, reward, terminated or truncated)
print(f"FPS {n / (time.perf_counter() - t0):.2f}", flush=True)
print(f"CPU_MS {(time.process_time() - c0) / n * 1000:.3f}", flush=True)
