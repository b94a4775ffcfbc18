"""ctypes binding of libblendarray's public C API.

Used by the code that runs inside Blender: ctypes works with whatever Python a
Blender embeds, where a compiled extension would be tied to one Python version.
"""
import ctypes
import os

from ._errors import BlendArrayError

_here = os.path.dirname(os.path.abspath(__file__))
_c_size = ctypes.c_size_t
_ptr = ctypes.c_void_p


class ExrTarget(ctypes.Structure):
    _fields_ = [("names", ctypes.POINTER(ctypes.c_char_p)), ("n", ctypes.c_int),
                ("dst", _ptr), ("row_stride", _c_size), ("dst_size", _c_size)]


def _load():
    path = os.environ.get("BLENDARRAY_LIB") or os.path.join(_here, "libblendarray.so")
    try:
        lib = ctypes.CDLL(path)
    except OSError as e:
        raise BlendArrayError(f"cannot load the blendarray C library at {path}: {e}; "
                              "build it with `make` in the project root") from None
    sig = {
        "ba_strerror": (ctypes.c_char_p, [ctypes.c_int]),
        "ba_version_string": (ctypes.c_char_p, []),
        "ba_flip_rows": (ctypes.c_int, [_ptr, _c_size, _c_size]),
        "ba_copy_flipped": (ctypes.c_int, [_ptr, _ptr, _c_size, _c_size]),
        "ba_f32_to_i32": (ctypes.c_int, [_ptr, _ptr, _c_size]),
        "ba_exr_open_fd": (ctypes.c_int, [ctypes.POINTER(_ptr), ctypes.c_int]),
        "ba_exr_close": (None, [_ptr]),
        "ba_exr_message": (ctypes.c_char_p, [_ptr]),
        "ba_exr_size": (ctypes.c_int, [_ptr, ctypes.POINTER(ctypes.c_int32),
                                       ctypes.POINTER(ctypes.c_int32)]),
        "ba_exr_channel_count": (ctypes.c_int, [_ptr]),
        "ba_exr_channel_name": (ctypes.c_char_p, [_ptr, ctypes.c_int]),
        "ba_exr_read": (ctypes.c_int, [_ptr, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
                                       _ptr, _c_size, _c_size]),
        "ba_exr_read_many": (ctypes.c_int, [_ptr, ctypes.POINTER(ExrTarget), ctypes.c_int]),
        "ba_png_decode_rgba8_fd": (ctypes.c_int, [ctypes.c_int, _ptr, _c_size, _c_size,
                                                  ctypes.POINTER(ctypes.c_uint32),
                                                  ctypes.POINTER(ctypes.c_uint32)]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
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

    def read_into(self, names, dst):
        """Decode channels `names`, interleaved in that order, into float32 array dst (H, W[, C])."""
        arr = (ctypes.c_char_p * len(names))(*[n.encode() for n in names])
        self._check(lib.ba_exr_read(self._h, arr, len(names), dst.ctypes.data,
                                    dst.strides[0], dst.nbytes), f"decode EXR channels {names}")

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
