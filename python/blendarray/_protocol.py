"""The worker control channel: one JSON object per SOCK_SEQPACKET message,
file descriptors (ring, frame memfds) riding along with SCM_RIGHTS.
docs/protocol.md is the specification; VERSION is its version.

This is the worker's side (inside Blender, through ctypes); the consumer's is
libblendarray's ba_renderer (src/reply.c). Pixel data never crosses the
socket: only descriptions of where it lies in shared memory.

consumer -> worker                          worker -> consumer
  {"op": "init", scene, settings,             {"ok": true, "blender_version"}
   setup, seed}
  {"op": "ring"} + ring fd                    {"ok": true}
  {"op": "render", job, index, params, slot}  {"ok": true, job, parts, meta} + memfds
                                              {"ok": false, job, error}
  {"op": "quit"}
"""
import json
import os


VERSION = 1  # docs/protocol.md; sent in "init", checked by both ends


class ProtocolError(Exception):
    pass


def mismatch(theirs, side):
    """The message for a peer that speaks another protocol version."""
    return (f"the {side} speaks worker protocol version {theirs!r}, this one speaks {VERSION}: "
            "blendarray's Python package and its C library (or the copy Blender loads) come "
            "from different versions; reinstall or rebuild blendarray (make) so that they match")


def _plain(o):
    # NumPy scalars/arrays and the like: a setup hook's metadata, a frame's params.
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def dumps(obj):
    """Compact JSON text; NumPy values as plain ones (the consumer's params, the worker's meta)."""
    return json.dumps(obj, separators=(",", ":"), default=_plain)


def encode(obj):
    return dumps(obj).encode()


def decode(data, fds=()):
    try:
        obj = json.loads(data)
        if not isinstance(obj, dict):
            raise ValueError("not an object")
    except ValueError as e:
        for fd in fds:
            close_quietly(fd)
        raise ProtocolError(f"malformed message: {e}") from None
    return obj


def close_quietly(fd):
    try:
        os.close(fd)
    except OSError:
        pass
