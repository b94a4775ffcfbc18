"""ctypes binding of libblendarray's public C API.

Used by the code that runs inside Blender: ctypes works with whatever Python a
Blender embeds, where a compiled extension would be tied to one Python version.
"""
import ctypes
import os
import threading

from ._errors import BlendArrayError
from ._version import version as _package_version

_here = os.path.dirname(os.path.abspath(__file__))
_c_size = ctypes.c_size_t
_ptr = ctypes.c_void_p


class ExrTarget(ctypes.Structure):
    _fields_ = [("names", ctypes.POINTER(ctypes.c_char_p)), ("n", ctypes.c_int),
                ("dst", _ptr), ("row_stride", _c_size), ("dst_size", _c_size)]


_SIG = {  # the C prototypes, as ctypes sees them (tests/python/test_bindings.py checks them against the header)
    "ba_strerror": (ctypes.c_char_p, [ctypes.c_int]),
    "ba_version_string": (ctypes.c_char_p, []),
    "ba_version_number": (ctypes.c_uint, []),
    "ba_flip_rows": (ctypes.c_int, [_ptr, _c_size, _c_size]),
    "ba_f32_to_i32": (ctypes.c_int, [_ptr, _ptr, _c_size]),
    "ba_exr_open_fd": (ctypes.c_int, [ctypes.POINTER(_ptr), ctypes.c_int]),
    "ba_exr_close": (None, [_ptr]),
    "ba_exr_message": (ctypes.c_char_p, [_ptr]),
    "ba_exr_size": (ctypes.c_int, [_ptr, ctypes.POINTER(ctypes.c_int32),
                                   ctypes.POINTER(ctypes.c_int32)]),
    "ba_exr_channel_count": (ctypes.c_int, [_ptr]),
    "ba_exr_channel_name": (ctypes.c_char_p, [_ptr, ctypes.c_int]),
    "ba_exr_read_many": (ctypes.c_int, [_ptr, ctypes.POINTER(ExrTarget), ctypes.c_int]),
    "ba_png_decode_rgba8_fd": (ctypes.c_int, [ctypes.c_int, _ptr, _c_size, _c_size,
                                              ctypes.POINTER(ctypes.c_uint32),
                                              ctypes.POINTER(ctypes.c_uint32)]),
    "ba_npz_open": (ctypes.c_int, [ctypes.POINTER(_ptr), ctypes.c_char_p, ctypes.c_int,
                                   ctypes.c_int]),
    "ba_npz_add_array": (ctypes.c_int, [_ptr, ctypes.c_char_p, ctypes.c_int, ctypes.c_int,
                                        ctypes.POINTER(ctypes.c_uint64), _ptr, _c_size]),
    "ba_npz_add_file": (ctypes.c_int, [_ptr, ctypes.c_char_p, ctypes.c_char_p]),
    "ba_npz_finish": (ctypes.c_int, [_ptr]),
    "ba_npz_abort": (None, [_ptr]),
}


def _lib_path():
    """libblendarray.so beside this file (installed, the add-on, a build tree), or
    where the package's resources are (an editable install keeps it in its build
    folder, while this file is the source)."""
    here = os.path.join(_here, "libblendarray.so")
    if not os.path.exists(here) and __package__:
        try:
            import importlib.resources
            found = importlib.resources.files(__package__) / "libblendarray.so"
            if found.is_file():
                return str(found)
        except (ImportError, OSError, TypeError, AttributeError):
            pass
    return here


def _load():
    path = os.environ.get("BLENDARRAY_LIB") or _lib_path()
    try:
        lib = ctypes.CDLL(path, use_errno=True)
    except OSError as e:
        raise BlendArrayError(f"cannot load the blendarray C library at {path}: {e}; "
                              "reinstall blendarray (pip install blendarray)") from None
    for name, (res, args) in _SIG.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    got = lib.ba_version_string().decode()
    if got != _package_version:  # the ABI behind _SIG is this version's
        raise BlendArrayError(f"{path} is libblendarray {got}, but the blendarray package "
                              f"{_here} is {_package_version}: a mixed install; reinstall "
                              "blendarray (pip install blendarray, and the Blender add-on)")
    return lib


lib = _load()


def check(err, what, detail=""):
    if err:
        msg = lib.ba_strerror(err).decode()
        raise BlendArrayError(f"{what}: {msg}{': ' + detail if detail else ''}")


def flip_rows(a):
    """Reverse the rows of a C-contiguous array in place (Blender stores rows bottom-up)."""
    rows = a.shape[0]
    check(lib.ba_flip_rows(a.ctypes.data, rows, a.nbytes // rows if rows else 0), "flip rows")


def f32_to_i32(dst, src):
    check(lib.ba_f32_to_i32(dst.ctypes.data, src.ctypes.data, src.size), "index pass to int32")


class Exr:
    """An EXR image in an open file descriptor (Blender writes it into a memfd)."""

    def __init__(self, fd):
        self._h = _ptr()
        check(lib.ba_exr_open_fd(ctypes.byref(self._h), fd), "read EXR")
        w, h = ctypes.c_int32(), ctypes.c_int32()
        self._check(lib.ba_exr_size(self._h, ctypes.byref(w), ctypes.byref(h)), "EXR size")
        self.width, self.height = w.value, h.value
        self.channels = [lib.ba_exr_channel_name(self._h, i).decode()
                         for i in range(lib.ba_exr_channel_count(self._h))]

    def _check(self, err, what):
        if err:
            check(err, what, (lib.ba_exr_message(self._h) or b"").decode())

    def read_many(self, requests):
        """Decode several (names, float32 dst) requests in one walk over the file."""
        keep = []
        targets = (ExrTarget * len(requests))()
        for t, (names, dst) in zip(targets, requests):
            arr = (ctypes.c_char_p * len(names))(*[n.encode() for n in names])
            keep.append(arr)
            t.names, t.n, t.dst = arr, len(names), dst.ctypes.data
            t.row_stride, t.dst_size = dst.strides[0], dst.nbytes
        self._check(lib.ba_exr_read_many(self._h, targets, len(requests)), "decode EXR passes")

    def close(self):
        if self._h:
            lib.ba_exr_close(self._h)
            self._h = _ptr()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def png_decode_rgba8_fd(fd, dst):
    w, h = ctypes.c_uint32(), ctypes.c_uint32()
    check(lib.ba_png_decode_rgba8_fd(fd, dst.ctypes.data, dst.strides[0], dst.nbytes,
                                     ctypes.byref(w), ctypes.byref(h)), "decode PNG")
    if (h.value, w.value) != dst.shape[:2]:
        raise BlendArrayError(f"PNG is {w.value}x{h.value}, expected {dst.shape[1]}x{dst.shape[0]}")


_NPZ_DTYPES = {"float32": 0, "float16": 1, "uint8": 2, "int32": 3, "uint16": 4}  # enum ba_dtype


class NpzWriter:
    """An .npz written by libblendarray: under a temporary name beside `path`
    until finish() renames it into place; abort() (or leaving a `with` block
    without finish()) leaves no file. Added arrays must stay alive until then."""

    def __init__(self, path, compress=False, overwrite=False):
        self.path = path
        self._h = _ptr()
        self._keep = []
        _check_io(lib.ba_npz_open(ctypes.byref(self._h), os.fsencode(path), int(bool(compress)),
                                  int(bool(overwrite))), f"write {path}")

    def _handle(self):
        if not self._h:
            raise BlendArrayError(f"the .npz writer of {self.path} is finished or aborted")
        return self._h

    def add_array(self, name, a):
        """Member "<name>.npy" holding the C-contiguous array `a`."""
        code = _NPZ_DTYPES.get(a.dtype.name) if a.dtype.byteorder in "=|<" else None
        if code is None:
            raise BlendArrayError(f"{name}: cannot write dtype {a.dtype.str} to an .npz")
        if not a.flags.c_contiguous:
            raise BlendArrayError(f"{name}: the array must be C-contiguous")
        shape = (ctypes.c_uint64 * max(a.ndim, 1))(*a.shape)
        self._keep.append(a)
        check(lib.ba_npz_add_array(self._handle(), name.encode(), code, a.ndim, shape,
                                   a.ctypes.data, a.nbytes), f"add {name!r} to {self.path}")

    def add_file(self, member, path):
        """Member `member` (its whole name, e.g. "meta.json") holding the file at `path`,
        read when finish() writes the archive."""
        _check_io(lib.ba_npz_add_file(self._handle(), member.encode(), os.fsencode(path)),
                  f"add {member!r} to {self.path}")

    def finish(self):
        h, self._h = self._handle(), _ptr()
        try:
            _check_io(lib.ba_npz_finish(h), f"write {self.path}")
        finally:
            self._keep = []

    def abort(self):
        if self._h:
            lib.ba_npz_abort(self._h)
            self._h = _ptr()
        self._keep = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.abort()  # a no-op after finish()


# ---------------------------------------------------------------------------
# Transport: the worker's side of the shared-memory frame ring and the
# control messages (the consumer's side is libblendarray's ba_renderer).

BA_ETIMEDOUT, BA_ECLOSED, BA_EPERM = 12, 13, 14
MSG_MAX = 1 << 20
MSG_MAX_FDS = 4

_transport_sig = {
    "ba_ring_attach": (ctypes.c_int, [ctypes.POINTER(_ptr), ctypes.c_int]),
    "ba_ring_slots": (ctypes.c_uint32, [_ptr]),
    "ba_ring_slot_size": (_c_size, [_ptr]),
    "ba_ring_slot": (_ptr, [_ptr, ctypes.c_uint32]),
    "ba_ring_close": (None, [_ptr]),
    "ba_msg_send": (ctypes.c_int, [ctypes.c_int, ctypes.c_char_p, _c_size,
                                   ctypes.POINTER(ctypes.c_int), ctypes.c_int]),
    "ba_msg_recv": (ctypes.c_int, [ctypes.c_int, _ptr, _c_size, ctypes.POINTER(_c_size),
                                   ctypes.POINTER(ctypes.c_int), ctypes.POINTER(ctypes.c_int),
                                   ctypes.c_int]),
    "ba_peer_check": (ctypes.c_int, [ctypes.c_int, ctypes.c_int]),
}
for _name, (_res, _args) in _transport_sig.items():
    _fn = getattr(lib, _name)
    _fn.restype, _fn.argtypes = _res, _args

SIGNATURES = {**_SIG, **_transport_sig}  # every C function this binding calls


def _fileno(sock):
    return sock if isinstance(sock, int) else sock.fileno()


def _check_io(err, what):
    """check(), with errno's words for BA_EIO (a failed system call)."""
    if err:
        check(err, what, os.strerror(ctypes.get_errno()) if err == 4 else "")


class Ring:
    """A frame ring received from the consumer (its fd came over SCM_RIGHTS)."""

    def __init__(self, handle):
        self._h = handle
        self._close = lib.ba_ring_close  # still there for __del__ at shutdown
        self.slots = lib.ba_ring_slots(handle)
        self.slot_size = lib.ba_ring_slot_size(handle)

    @classmethod
    def attach(cls, fd):
        """Map the ring in `fd`; the fd is duplicated, the caller still closes its own."""
        h = _ptr()
        _check_io(lib.ba_ring_attach(ctypes.byref(h), fd), "attach to the frame ring")
        return cls(h)

    def slot(self, index):
        """The address (an int) of slot `index`'s first byte, slot_size bytes long."""
        if not self._h:
            raise BlendArrayError("the frame ring is closed")
        if not 0 <= index < self.slots:
            raise IndexError(f"slot {index} out of range (the ring has {self.slots})")
        return lib.ba_ring_slot(self._h, index)

    def close(self):
        if self._h:
            self._close(self._h)
            self._h = _ptr()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()


def msg_send(sock, data, fds=()):
    """Send one message (1..MSG_MAX bytes) with up to MSG_MAX_FDS fds on a SOCK_SEQPACKET socket."""
    data = bytes(data)
    fds = [_fileno(f) for f in fds]
    if not 1 <= len(data) <= MSG_MAX:
        raise ValueError(f"msg_send: a message is 1..{MSG_MAX} bytes, not {len(data)}")
    if len(fds) > MSG_MAX_FDS:
        raise ValueError(f"msg_send: at most {MSG_MAX_FDS} fds, not {len(fds)}")
    arr = (ctypes.c_int * len(fds))(*fds) if fds else None
    _check_io(lib.ba_msg_send(_fileno(sock), data, len(data), arr, len(fds)), "msg_send")


_recv_local = threading.local()


def msg_recv(sock, timeout_ms=-1):
    """One message: (bytes, [fds]), None at end of stream; TimeoutError after timeout_ms.

    The fds are the caller's to close. The wait happens in C with the GIL
    released; a signal does not end it early (Python handlers run after).
    """
    buf = getattr(_recv_local, "buf", None)
    if buf is None:
        buf = _recv_local.buf = ctypes.create_string_buffer(MSG_MAX)
    n = _c_size()
    fds = (ctypes.c_int * MSG_MAX_FDS)()
    nfds = ctypes.c_int(MSG_MAX_FDS)
    err = lib.ba_msg_recv(_fileno(sock), buf, MSG_MAX, ctypes.byref(n), fds,
                          ctypes.byref(nfds), timeout_ms)
    if err == BA_ECLOSED:
        return None
    if err == BA_ETIMEDOUT:
        raise TimeoutError(f"msg_recv: nothing within {timeout_ms} ms")
    _check_io(err, "msg_recv")
    return ctypes.string_at(buf, n.value), list(fds[:nfds.value])


def peer_check(sock, pid):
    """True when the socket's peer runs as our user and, if pid > 0, has that pid."""
    err = lib.ba_peer_check(_fileno(sock), pid)
    if err == BA_EPERM:
        return False
    _check_io(err, "peer_check")
    return True
