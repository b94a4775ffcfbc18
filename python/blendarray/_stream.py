"""Reading the stream of frames that `blendarray render -o -` writes.

The stream is NPY arrays one after another. Each frame is a metadata record,
then its arrays:

  1. a uint8 array of shape (n,): the frame's metadata, JSON text (UTF-8), an
     object whose "pass_order" lists the names of the arrays that follow;
  2. one NPY array per name in "pass_order", in that order.
"""
import ast
import json

import numpy as np

from ._errors import BlendArrayError
from ._frame import Frame

_MAGIC = b"\x93NUMPY"


def _read_exact(f, n, what):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = f.readinto(view[got:]) if hasattr(f, "readinto") else None
        if k is None:  # a file object without readinto
            chunk = f.read(n - got)
            k = len(chunk)
            view[got:got + k] = chunk
        if not k:
            raise BlendArrayError(f"the stream ended inside {what} ({got} of {n} bytes)")
        got += k
    return buf


def _read_array(f, what):
    """The next NPY array, or None at the end of the stream (before its first byte)."""
    magic = f.read(6)
    if not magic:
        return None
    if len(magic) < 6:
        magic += bytes(_read_exact(f, 6 - len(magic), what))
    if magic != _MAGIC:
        raise BlendArrayError(f"not a blendarray stream: {what} starts with {magic!r}, not an "
                              "NPY array (is this the output of `blendarray render -o -`?)")
    major, _ = bytes(_read_exact(f, 2, what))
    if major not in (1, 2, 3):
        raise BlendArrayError(f"{what}: NPY format version {major} is not supported")
    hlen = int.from_bytes(_read_exact(f, 2 if major == 1 else 4, what), "little")
    text = bytes(_read_exact(f, hlen, what)).decode("latin1" if major < 3 else "utf8")
    try:
        d = ast.literal_eval(text)
        dtype, shape, fortran = np.dtype(d["descr"]), tuple(d["shape"]), bool(d["fortran_order"])
        count = 1
        for s in shape:
            if int(s) < 0:
                raise ValueError("negative dimension")
            count *= int(s)
    except (ValueError, SyntaxError, KeyError, TypeError) as e:
        raise BlendArrayError(f"{what}: bad NPY header {text!r}: {e}") from None
    data = _read_exact(f, count * dtype.itemsize, what)
    return np.frombuffer(data, dtype, count).reshape(shape, order="F" if fortran else "C")


def _read_meta(f, number):
    what = f"the metadata record of the stream's frame index {number}"
    a = _read_array(f, what)
    if a is None:
        return None
    if a.dtype != np.uint8 or a.ndim != 1:
        raise BlendArrayError(f"not a blendarray stream: {what} is a {a.dtype} array of shape "
                              f"{a.shape}, not uint8 JSON text (a stream of plain NPY arrays "
                              "reads with np.load on a file, one array at a time)")
    try:
        meta = json.loads(a.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise BlendArrayError(f"{what} is not JSON text: {e}") from None
    order = meta.pop("pass_order", None) if isinstance(meta, dict) else None
    if not isinstance(order, list) or not all(isinstance(n, str) for n in order):
        raise BlendArrayError(f"{what} has no \"pass_order\" list of pass names")
    if len(set(order)) != len(order):
        raise BlendArrayError(f"{what} names a pass twice in \"pass_order\": {order}")
    return meta, order


def read_stream(f):
    """Yield each frame of a `blendarray render -o -` stream, read from a
    binary file or a pipe, as a `blendarray.Frame` (pass name -> array, in
    the order written, with `frame.meta`):

        for frame in blendarray.read_stream(sys.stdin.buffer):
            frame["depth"], frame.meta["K"]

    np.load cannot read a pipe (it seeks back after the magic, and
    numpy.lib.format.read_array asks a real file for its position), so this
    reads the NPY format (versions 1.0, 2.0, 3.0) strictly forwards. A stream
    that ends inside a frame, or that is not such a stream, raises
    BlendArrayError saying where.
    """
    number = 0
    while True:
        got = _read_meta(f, number)
        if got is None:
            return
        meta, order = got
        arrays = {}
        for i, name in enumerate(order):
            what = (f"array {name!r} ({i + 1} of {len(order)}) of the stream's frame "
                    f"index {number}")
            a = _read_array(f, what)
            if a is None:
                raise BlendArrayError(f"the stream ended before {what}")
            arrays[name] = a
        yield Frame(arrays, meta)
        number += 1
