"""The worker control channel: one JSON object per SOCK_SEQPACKET message,
file descriptors (ring, frame memfds) riding along with SCM_RIGHTS.
docs/protocol.md is the specification; VERSION is its version.

The bytes move through libblendarray's ba_msg_send/ba_msg_recv: the CPython
extension on the consumer side, ctypes inside Blender. Pixel data never
crosses the socket: only descriptions of where it lies in shared memory.

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
    # NumPy scalars/arrays and the like, from a setup hook's metadata.
    if hasattr(o, "tolist"):
        return o.tolist()
    return str(o)


def encode(obj):
    return json.dumps(obj, separators=(",", ":"), default=_plain).encode()


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
