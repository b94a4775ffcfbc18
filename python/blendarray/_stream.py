"""Reading the NPY stream that `blendarray render -o -` writes."""
import ast

import numpy as np

from ._errors import BlendArrayError

_MAGIC = b"\x93NUMPY"


def _read_exact(f, n):
    buf = bytearray(n)
    view, got = memoryview(buf), 0
    while got < n:
        k = f.readinto(view[got:]) if hasattr(f, "readinto") else None
        if k is None:  # a file object without readinto
            chunk = f.read(n - got)
            k = len(chunk)
            view[got:got + k] = chunk
        if not k:
            raise BlendArrayError(f"the NPY stream ended inside an array ({got} of {n} bytes)")
        got += k
    return buf


def read_stream(f):
    """Yield each array of an NPY stream read from a binary file or a pipe.

        for a in blendarray.read_stream(sys.stdin.buffer): ...

    np.load cannot read a pipe (it seeks back after the magic, and
    numpy.lib.format.read_array asks a real file for its position), so this
    reads the format (versions 1.0, 2.0, 3.0) strictly forwards.
    """
    while True:
        magic = f.read(6)
        if not magic:
            return
        if magic != _MAGIC:
            raise BlendArrayError(f"not an NPY stream (starts with {magic!r})")
        major, _ = bytes(_read_exact(f, 2))
        if major not in (1, 2, 3):
            raise BlendArrayError(f"NPY format version {major} is not supported")
        hlen = int.from_bytes(_read_exact(f, 2 if major == 1 else 4), "little")
        text = bytes(_read_exact(f, hlen)).decode("latin1" if major < 3 else "utf8")
        try:
            d = ast.literal_eval(text)
            dtype, shape, fortran = np.dtype(d["descr"]), tuple(d["shape"]), bool(d["fortran_order"])
        except (ValueError, SyntaxError, KeyError, TypeError) as e:
            raise BlendArrayError(f"bad NPY header {text!r}: {e}") from None
        count = 1
        for s in shape:
            count *= int(s)
        data = _read_exact(f, count * dtype.itemsize)
        yield np.frombuffer(data, dtype, count).reshape(shape, order="F" if fortran else "C")
