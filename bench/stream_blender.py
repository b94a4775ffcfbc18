"""The in-Blender half of bench/stream.py: render N frames of the demo scene in
Blender's own loop, with one of these outputs per frame:

  none     nothing (the ceiling: what Blender alone can do)
  png      save PNG to /dev/shm and read it back (BlenderProc's file round trip)
  exr      save multilayer EXR (ZIP) to /dev/shm and read every channel back
  pickle   capture the arrays, pickle them, send them over a Unix socket (blendtorch's way)

    blender -b --factory-startup --python stream_blender.py -- MODE N W H ENGINE THREADS WARMUP [SOCKET]
Renders WARMUP + N frames and prints "FPS <frames per second>" and "CPU_MS <this
process's CPU milliseconds per frame>" over the last N
(the first frames pay for scene sync and kernel loading; WARMUP >= 1).
"""
import os
import pickle
import socket
import struct
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "build", "dev", "python"))

import bpy  # noqa: E402
import numpy as np  # noqa: E402

import blendarray.blender as bab  # noqa: E402
from blendarray import _lib  # noqa: E402
from blendarray.blender import scenes  # noqa: E402

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
mode, n, w, h, engine, threads = argv[0], int(argv[1]), int(argv[2]), int(argv[3]), argv[4], int(argv[5])
warm = max(1, int(argv[6]))
scenes.build_demo()
sc = bab.configure(engine=engine, samples=1, resolution=(w, h), threads=threads or None)
sc.render.use_motion_blur = False
sc.view_layers[0].use_pass_z = True
s = sc.render.image_settings
PNG = f"/dev/shm/ba-stream-{os.getpid()}.png"  # one file per process: several run side by side
EXR = f"/dev/shm/ba-stream-{os.getpid()}.exr"
sock = None
if mode == "pickle":
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(argv[7])


def out_png():
    s.file_format, s.color_mode, s.color_depth = "PNG", "RGBA", "8"
    bpy.data.images["Render Result"].save_render(filepath=PNG, scene=sc)
    fd = os.open(PNG, os.O_RDONLY)
    _lib.png_decode_rgba8_fd(fd, np.empty((h, w, 4), np.uint8))
    os.close(fd)


def out_exr():
    if hasattr(s, "media_type"):
        s.media_type = "MULTI_LAYER_IMAGE"
    s.file_format, s.exr_codec, s.color_depth = "OPEN_EXR_MULTILAYER", "ZIP", "32"
    if hasattr(s, "use_exr_interleave"):
        s.use_exr_interleave = True
    bpy.data.images["Render Result"].save_render(filepath=EXR, scene=sc)
    fd = os.open(EXR, os.O_RDONLY)
    with _lib.Exr(fd) as exr:
        exr.read_many([([c], np.empty((h, w), np.float32)) for c in exr.channels])
    os.close(fd)


def out_pickle():
    f = bab.capture(passes=["rgba", "depth"])
    data = pickle.dumps(dict(f), protocol=pickle.HIGHEST_PROTOCOL)
    sock.sendall(struct.pack("<Q", len(data)) + data)


out = {"none": lambda: None, "png": out_png, "exr": out_exr, "pickle": out_pickle}[mode]
for i in range(n + warm):
    if i == warm:
        t0, c0 = time.perf_counter(), time.process_time()
    sc.frame_set(1 + i % 250)
    bpy.ops.render.render()
    out()
t1, c1 = time.perf_counter(), time.process_time()
print(f"FPS {n / (t1 - t0):.3f}", flush=True)
print(f"CPU_MS {(c1 - c0) / n * 1000:.4f}", flush=True)  # this process's CPU per frame
for path in (PNG, EXR):
    if os.path.exists(path):
        os.unlink(path)
if sock:
    sock.close()
