"""The worker control channel: one JSON object per SOCK_SEQPACKET message,
file descriptors (the frame's memfd) riding along with SCM_RIGHTS.

Pixel data never crosses the socket: only descriptions of it.
"""
import json
import socket

MAX_MESSAGE = 1 << 20
MAX_FDS = 4


class ProtocolError(Exception):
    pass


def send(sock, obj, fds=()):
    data = json.dumps(obj, separators=(",", ":")).encode()
    if len(data) > MAX_MESSAGE:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_MESSAGE}")
    if fds:
        n = socket.send_fds(sock, [data], list(fds))
    else:
        n = sock.send(data)
    if n != len(data):
        raise ProtocolError(f"short send: {n} of {len(data)} bytes")


def recv(sock):
    """(message, fds), or (None, []) at end of stream."""
    data, fds, flags, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS)
    if flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC):
        for fd in fds:
            _close(fd)
        raise ProtocolError("message or descriptors truncated")
    if not data:
        for fd in fds:
            _close(fd)
        return None, []
    try:
        obj = json.loads(data)
    except ValueError as e:
        for fd in fds:
            _close(fd)
        raise ProtocolError(f"malformed message: {e}") from None
    if not isinstance(obj, dict):
        for fd in fds:
            _close(fd)
        raise ProtocolError("message is not an object")
    return obj, fds


def _close(fd):
    import os
    try:
        os.close(fd)
    except OSError:
        pass
