"""ctypes binding of libblendarray's public C API.

Used by the code that runs inside Blender: ctypes works with whatever Python a
Blender embeds, where a compiled extension would be tied to one Python version.
It binds only what that code calls (python/blendarray/blender/, the add-on);
the consumer side (blendarray.labels, Renderer, ...) uses the extension, _core.
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
    "ba_instances_find": (ctypes.c_int, [ctypes.POINTER(_ptr), _ptr, ctypes.c_int, _c_size,
                                         _c_size, _c_size, _c_size, _c_size]),
    "ba_instances_count": (_c_size, [_ptr]),
    "ba_instances_id": (ctypes.c_uint32, [_ptr, _c_size]),
    "ba_instances_area": (ctypes.c_uint64, [_ptr, _c_size]),
    "ba_instances_box": (None, [_ptr, _c_size, ctypes.POINTER(ctypes.c_uint32)]),
    "ba_instances_rle": (ctypes.POINTER(ctypes.c_uint32), [_ptr, _c_size,
                                                           ctypes.POINTER(_c_size)]),
    "ba_instances_free": (None, [_ptr]),
    "ba_rle_string_bound": (_c_size, [_c_size]),
    "ba_rle_to_string": (ctypes.c_int, [ctypes.POINTER(ctypes.c_uint32), _c_size, ctypes.c_char_p,
                                        _c_size, ctypes.POINTER(_c_size)]),
    "ba_cryptomatte_hash": (ctypes.c_uint32, [ctypes.c_char_p, _c_size]),
    "ba_cryptomatte_id": (ctypes.c_uint32, [ctypes.c_uint32]),
    "ba_flow_from_vector": (ctypes.c_int, [_ptr, _c_size, _c_size, _ptr, _ptr]),
    "ba_display_predivide": (ctypes.c_int, [_ptr, _ptr, _c_size]),
    "ba_display_new": (ctypes.c_int, [ctypes.POINTER(_ptr), _c_size, _c_size, ctypes.c_float,
                                      ctypes.c_int]),
    "ba_display_rows": (ctypes.c_int, [_ptr, _ptr, _ptr, _c_size, _c_size]),
    "ba_display_free": (None, [_ptr]),
    "ba_blend_version_fd": (ctypes.c_int, [ctypes.c_int, ctypes.POINTER(ctypes.c_int),
                                           ctypes.POINTER(ctypes.c_int)]),
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
                              "reinstall blendarray: pip install /path/to/blendarray (a checkout) "
                              "or the wheel you built") from None
    for name, (res, args) in _SIG.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    got = lib.ba_version_string().decode()
    if got != _package_version:  # the ABI behind _SIG is this version's
        raise BlendArrayError(f"{path} is libblendarray {got}, but the blendarray package "
                              f"{_here} is {_package_version}: a mixed install; reinstall "
                              "blendarray (pip install /path/to/blendarray, a checkout, or the wheel "
                              "you built; and the Blender add-on)")
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


# ---------------------------------------------------------------------------
# Labels: instances, COCO RLE, Cryptomatte, optical flow (docs/labels.md)

_DTYPES = {"float32": 0, "float16": 1, "uint8": 2, "int32": 3, "uint16": 4,
           "uint32": 5}  # enum ba_dtype
_ID_DTYPES = {k: v for k, v in _DTYPES.items() if k != "float16"}  # what an id image may be
BA_ERANGE = 9


def instances(ids, max_instances=1 << 16):
    """The instances of a 2-D id image (0: background), ascending id: a list of
    {"id", "area", "bbox": [x, y, w, h], "counts": COCO compressed RLE (str)},
    the masks column-major as pycocotools.mask.encode writes them."""
    code = _ID_DTYPES.get(ids.dtype.name) if ids.dtype.byteorder in "=|<" else None
    if code is None or ids.ndim != 2:
        raise ValueError(f"instances: ids must be a 2-D array of uint8, uint16, uint32, int32 "
                         f"or float32, not {ids.ndim}-D {ids.dtype}")
    h, w = ids.shape
    rs, ps = ids.strides
    if ps < ids.itemsize or rs < (max(w, 1) - 1) * ps + ids.itemsize:
        import numpy as np  # reversed, overlapping or column-major: the kernel reads rows
        ids = np.ascontiguousarray(ids)
        rs, ps = ids.strides
    handle = _ptr()
    err = lib.ba_instances_find(ctypes.byref(handle), ids.ctypes.data, code, h, w,
                                rs if h else 0, ps if w else 0, max_instances)
    if err == BA_ERANGE:
        import numpy as np
        bad = ((ids < 0) | (ids != np.floor(ids)) | (ids >= 2.0 ** 32)).any()
        raise ValueError("instances: " + (
            "an id that is not an integer in 0..4294967295 (negative, fractional, NaN or "
            "infinite)" if bad else f"more than max_instances={max_instances} distinct ids"))
    check(err, "instances")
    try:
        out = []
        box = (ctypes.c_uint32 * 4)()
        n = _c_size()
        buf = ctypes.create_string_buffer(0)
        for i in range(lib.ba_instances_count(handle)):
            lib.ba_instances_box(handle, i, box)
            counts = lib.ba_instances_rle(handle, i, ctypes.byref(n))
            need = lib.ba_rle_string_bound(n.value)
            if len(buf) < need:
                buf = ctypes.create_string_buffer(need)
            check(lib.ba_rle_to_string(counts, n.value, buf, len(buf), None), "RLE string")
            out.append({"id": lib.ba_instances_id(handle, i),
                        "area": lib.ba_instances_area(handle, i),
                        "bbox": list(box), "counts": buf.value.decode("ascii")})
        return out
    finally:
        lib.ba_instances_free(handle)


def cryptomatte_hash(name):
    """Cryptomatte's MurmurHash3 (seed 0) of the UTF-8 bytes of `name`."""
    b = name.encode("utf-8")
    return lib.ba_cryptomatte_hash(b, len(b))


def cryptomatte_id(hash_):
    """The bits of the float32 a Cryptomatte pass stores for `hash_`."""
    return lib.ba_cryptomatte_id(hash_)


BA_EIO, BA_EFORMAT, BA_EUNSUPPORTED = 4, 5, 6


def blend_version(path):
    """(major, minor) of the Blender that saved the .blend file at `path`, from its
    header (plain, gzip or zstd): (5, 0) for Blender 5.0; None when it is no
    .blend file, "future" for a Blender header of a format newer than any this
    library knows; OSError when it cannot be read."""
    major, minor = ctypes.c_int(), ctypes.c_int()
    with open(path, "rb") as f:
        err = lib.ba_blend_version_fd(f.fileno(), ctypes.byref(major), ctypes.byref(minor))
    if err == BA_EFORMAT:
        return None
    if err == BA_EUNSUPPORTED:
        return "future"
    if err == BA_EIO:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    check(err, f"read the header of {path}")
    return major.value, minor.value


DITHER_SINES, DITHER_HASH = 0, 1  # enum ba_dither_noise


def _is_f32_image(a, channels):
    return (a.dtype.name == "float32" and a.dtype.byteorder in "=<" and a.ndim == 3
            and a.shape[2] == channels and a.flags.c_contiguous)


def _rgba_f32(a, what):
    if not _is_f32_image(a, 4):
        raise ValueError(f"{what} must be a C-contiguous (H, W, 4) float32 array, not "
                         f"{a.dtype} {a.shape}")


def display_predivide(dst, src):
    """Blender's predivide before the view transform, src into dst (both (n, W, 4)
    float32 C-contiguous, or the same array)."""
    _rgba_f32(src, "display_predivide: src")
    _rgba_f32(dst, "display_predivide: dst")
    if dst.shape != src.shape:
        raise ValueError(f"display_predivide: dst {dst.shape} is not src's {src.shape}")
    check(lib.ba_display_predivide(dst.ctypes.data, src.ctypes.data,
                                   src.shape[0] * src.shape[1]), "predivide")


class Display:
    """The display bytes of (height, width) images after their view transform
    (ba_display_*): rows(dst, src, first_row) may run on several threads at once."""

    def __init__(self, height, width, dither, noise):
        self.height, self.width = int(height), int(width)
        self._h = _ptr()
        check(lib.ba_display_new(ctypes.byref(self._h), self.height, self.width, float(dither),
                                 int(noise)), "display", f"dither {dither}, noise {noise}")

    def rows(self, dst, src, first_row):
        _rgba_f32(src, "Display.rows: src")
        if dst.dtype.name != "uint8" or dst.shape != src.shape or not dst.flags.c_contiguous:
            raise ValueError(f"Display.rows: dst must be a C-contiguous {src.shape} uint8 array")
        if src.shape[1] != self.width:
            raise ValueError(f"Display.rows: rows of {src.shape[1]} pixels, not {self.width}")
        check(lib.ba_display_rows(self._h, dst.ctypes.data, src.ctypes.data, int(first_row),
                                  src.shape[0]), "display rows",
              f"rows {first_row}..{first_row + src.shape[0]} of {self.height}")

    def __del__(self):
        if getattr(self, "_h", None):
            lib.ba_display_free(self._h)
            self._h = None


def flow_from_vector(vector, forward=None, backward=None):
    """Fill forward and/or backward, (H, W, 2) float32 C-contiguous, with the optical
    flow (pixels, x right, y down) of Blender's Vector pass (H, W, 4) float32."""
    _rgba_f32(vector, "flow_from_vector: vector")
    h, w = vector.shape[:2]
    for name, a in (("forward", forward), ("backward", backward)):
        if a is not None and (not _is_f32_image(a, 2) or a.shape[:2] != (h, w)
                              or not a.flags.writeable):
            raise ValueError(f"flow_from_vector: {name} must be a writeable C-contiguous "
                             f"({h}, {w}, 2) float32 array, not {a.dtype} {a.shape}")
    check(lib.ba_flow_from_vector(vector.ctypes.data, h, w,
                                  None if forward is None else forward.ctypes.data,
                                  None if backward is None else backward.ctypes.data),
          "optical flow")
    return forward, backward


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
        code = _DTYPES.get(a.dtype.name) if a.dtype.byteorder in "=|<" else None
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
