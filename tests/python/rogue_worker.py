#!/usr/bin/env python3
"""A worker that breaks the protocol on purpose, started by the consumer as if it
were a Blender binary (blender="tests/python/rogue_worker.py"): it speaks the
control channel with blendarray's own transport (ctypes), renders nothing, and
misbehaves as $ROGUE says:

  version    answers init with a protocol version nobody knows
  malformed  answers init correctly, then answers a render with bytes that are not JSON
  outside    answers a render with an array lying past the end of its ring slot

It checks nothing about Blender: it stands for a worker that is broken or hostile.
"""
import json
import os
import sys

sys.path.insert(0, os.environ["ROGUE_PYTHONPATH"])
from blendarray import _lib  # noqa: E402

fd = int(os.environ["BLENDARRAY_FD"])
mode = os.environ.get("ROGUE", "version")


def send(obj):
    _lib.msg_send(fd, json.dumps(obj).encode())


while True:
    got = _lib.msg_recv(fd)
    if got is None:
        sys.exit(0)
    msg = json.loads(got[0])
    for extra in got[1]:
        os.close(extra)
    if msg["op"] == "quit":
        sys.exit(0)
    if msg["op"] == "init":
        send({"ok": True, "protocol": 99 if mode == "version" else msg["protocol"],
              "blender_version": "rogue"})
    elif msg["op"] == "ring":
        send({"ok": True})
    elif msg["op"] == "render":
        if mode == "malformed":
            _lib.msg_send(fd, b"\x00not json{")
        else:  # "outside": a sealed 4 KiB memfd said to hold a 4 GiB array
            import fcntl
            mem = os.memfd_create("rogue", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
            os.ftruncate(mem, 4096)
            fcntl.fcntl(mem, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
            reply = {"ok": True, "job": msg["job"], "meta": {"frame": 1},
                     "parts": [{"slot": None, "size": 4096,
                                "arrays": [{"name": "rgba", "dtype": "<f4",
                                            "shape": [16384, 16384, 4], "offset": 0,
                                            "nbytes": 1 << 32}]}]}
            _lib.msg_send(fd, json.dumps(reply).encode(), [mem])
            os.close(mem)
