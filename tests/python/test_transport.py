"""The frame transport as the worker sees it (blendarray._lib, ctypes: the one
binding Blender loads): the shared-memory ring a consumer made, attached and
written through, and control messages with fds both ways. The consumer's side
is libblendarray's ba_renderer (tests/c/test_renderer.c, test_renderer.py)."""
import ctypes
import mmap
import os
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from blendarray import _lib
from blendarray._errors import BlendArrayError

PAGE = mmap.PAGESIZE


def seqpacket_pair():
    return socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def fd_is_open(fd):
    try:
        os.fstat(fd)
        return True
    except OSError:
        return False


class ConsumerRing:
    """A ring made as the consumer makes it (ba_ring_create), mapped here too."""

    def __init__(self, slots, size):
        create, fd_of = _lib.lib.ba_ring_create, _lib.lib.ba_ring_fd
        create.restype, create.argtypes = ctypes.c_int, [ctypes.POINTER(ctypes.c_void_p),
                                                         ctypes.c_uint32, ctypes.c_size_t]
        fd_of.restype, fd_of.argtypes = ctypes.c_int, [ctypes.c_void_p]
        h = ctypes.c_void_p()
        assert create(ctypes.byref(h), slots, size) == 0
        self.fd = fd_of(h)
        self.ring = _lib.Ring(h)

    def view(self, index):
        n = self.ring.slot_size
        return np.ctypeslib.as_array((ctypes.c_uint8 * n).from_address(self.ring.slot(index)))


# --- the ring ---------------------------------------------------------------

def test_ctypes_attach_sees_the_same_bytes():
    ring = ConsumerRing(3, 5000)
    assert ring.ring.slot_size == -(-5000 // PAGE) * PAGE
    assert not os.get_inheritable(ring.fd)
    assert os.fstat(ring.fd).st_size == PAGE + 3 * ring.ring.slot_size
    view = ring.view(2)
    view[:] = np.arange(view.size) % 251
    with _lib.Ring.attach(ring.fd) as worker:
        assert (worker.slots, worker.slot_size) == (3, ring.ring.slot_size)
        addr = worker.slot(2)
        assert addr % PAGE == 0 and addr != ring.ring.slot(2)  # its own mapping
        mine = np.ctypeslib.as_array((ctypes.c_uint8 * worker.slot_size).from_address(addr))
        assert np.array_equal(mine, view)
        mine[:5] = [9, 8, 7, 6, 5]  # and back
        assert view[:5].tolist() == [9, 8, 7, 6, 5]
        with pytest.raises(IndexError):
            worker.slot(3)
        del mine
    assert fd_is_open(ring.fd)  # attach used its own dup
    with pytest.raises(BlendArrayError, match="invalid or corrupt"):
        r, w = os.pipe()
        try:
            _lib.Ring.attach(r)
        finally:
            os.close(r)
            os.close(w)
    del view
    ring.ring.close()
    assert not fd_is_open(ring.fd)


def test_worker_process_attaches_through_the_socket():
    """The real path: fd over SCM_RIGHTS to another process, which attaches with ctypes."""
    ring = ConsumerRing(2, 3 * PAGE)
    ours, theirs = seqpacket_pair()
    worker = f"""
import ctypes, sys
sys.path.insert(0, {os.path.dirname(os.path.dirname(_lib.__file__))!r})
from blendarray import _lib
data, fds = _lib.msg_recv({theirs.fileno()}, 5000)
ring = _lib.Ring.attach(fds[0])
buf = (ctypes.c_uint8 * ring.slot_size).from_address(ring.slot(int(data)))
for i in range(ring.slot_size):
    buf[i] = (i * 3) % 256
_lib.msg_send({theirs.fileno()}, b"done " + data)
"""
    p = subprocess.Popen([sys.executable, "-c", worker], pass_fds=[theirs.fileno()])
    theirs.close()
    _lib.msg_send(ours, b"1", [ring.fd])
    assert _lib.msg_recv(ours, 10000) == (b"done 1", [])
    assert p.wait(10) == 0
    assert np.array_equal(ring.view(1), (np.arange(ring.ring.slot_size) * 3) % 256)
    assert not ring.view(0).any()
    assert _lib.msg_recv(ours, 1000) is None
    ours.close()
    ring.ring.close()


# --- messages -----------------------------------------------------------------

def test_message_roundtrip_with_fds(send=_lib.msg_send, recv=_lib.msg_recv):
    a, b = seqpacket_pair()
    r, w = os.pipe()
    before = open_fds()
    send(a.fileno(), b"frame 17", (r, w))
    data, fds = recv(b.fileno(), 1000)
    assert data == b"frame 17" and len(fds) == 2
    assert open_fds() == before + 2
    assert not os.get_inheritable(fds[0])
    os.write(fds[1], b"x")
    assert os.read(r, 1) == b"x"
    os.write(w, b"y")
    assert os.read(fds[0], 1) == b"y"
    for fd in fds:
        os.close(fd)
    # bytes-like payloads, no fds, sockets as objects, boundaries kept
    send(a, bytearray(b"one"))
    send(a, memoryview(b"three"))
    assert recv(b, 0) == (b"one", [])
    assert recv(b, 0) == (b"three", [])
    big = os.urandom(150_000)
    send(b, big)
    assert recv(a, 1000) == (big, [])
    for fd in (r, w):
        os.close(fd)
    a.close()
    b.close()


def test_send_argument_errors(send=_lib.msg_send):
    a, b = seqpacket_pair()
    with pytest.raises(ValueError):
        send(a, b"")
    with pytest.raises(ValueError):
        send(a, b"x" * (_lib.MSG_MAX + 1))
    with pytest.raises(ValueError):
        send(a, b"x", [0] * 5)
    b.close()
    with pytest.raises(BlendArrayError, match="peer closed"):
        send(a, b"x")  # and no SIGPIPE
    a.close()


def test_timeout_and_end_of_stream(recv=_lib.msg_recv):
    a, b = seqpacket_pair()
    t0 = time.monotonic()
    with pytest.raises(TimeoutError):
        recv(b, 150)
    assert 0.15 <= time.monotonic() - t0 < 1.5
    with pytest.raises(TimeoutError):
        recv(b, 0)
    _lib.msg_send(a, b"bye")
    a.close()
    assert recv(b, -1) == (b"bye", [])
    t0 = time.monotonic()
    assert recv(b, -1) is None
    assert recv(b, 5000) is None
    assert time.monotonic() - t0 < 1
    b.close()


def test_malformed_messages_leak_no_fds(recv=_lib.msg_recv):
    a, b = seqpacket_pair()
    r, w = os.pipe()
    before = open_fds()
    socket.send_fds(a, [b"many"], [r, w, r, w, r, w])  # more than MSG_MAX_FDS
    with pytest.raises(BlendArrayError, match="invalid"):
        recv(b, 1000)
    assert open_fds() == before
    a.send(b"ok")
    assert recv(b, 1000) == (b"ok", [])
    for fd in (r, w):
        os.close(fd)
    a.close()
    b.close()


def test_oversized_message_is_refused(recv=_lib.msg_recv):
    """A message longer than MSG_MAX is an error, and the channel still works after it."""
    a, b = seqpacket_pair()
    # SO_SNDBUF is capped by net.core.wmem_max (Debian's default is too small for a
    # message past MSG_MAX); SO_SNDBUFFORCE, for root (as CI runs), is not.
    force = getattr(socket, "SO_SNDBUFFORCE", 32)
    try:
        a.setsockopt(socket.SOL_SOCKET, force, 4 << 20)
    except PermissionError:
        a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    try:
        a.send(b"x" * (_lib.MSG_MAX + 10))
    except OSError as e:
        if os.geteuid() == 0 or os.environ.get("BLENDARRAY_REQUIRE_FLAVOURS") == "1":
            raise
        pytest.skip(f"cannot send a message past MSG_MAX here ({e}; net.core.wmem_max)")
    with pytest.raises(BlendArrayError):
        recv(b, 1000)
    a.send(b"ok")
    assert recv(b, 1000) == (b"ok", [])
    a.close()
    b.close()


def test_peer_check(check=_lib.peer_check):
    a, b = seqpacket_pair()
    assert check(a, os.getpid()) is True  # a socketpair's peer is its creator
    assert check(b, 0) is True
    assert check(a, os.getpid() + 1) is False
    a.close()
    b.close()
    r, w = os.pipe()
    with pytest.raises(BlendArrayError):
        check(r, 0)
    os.close(r)
    os.close(w)
