"""blendarray.read_stream: NPY arrays one after another, read strictly forwards."""
import io

import numpy as np
import pytest

import blendarray as ba


class Pipe(io.RawIOBase):
    """A non-seekable stream that hands out at most 7 bytes per read, like a slow pipe."""

    def __init__(self, data):
        self.data, self.pos = data, 0

    def readable(self):
        return True

    def readinto(self, b):
        n = min(len(b), 7, len(self.data) - self.pos)
        b[:n] = self.data[self.pos:self.pos + n]
        self.pos += n
        return n


def _stream(*arrays):
    buf = io.BytesIO()
    for a in arrays:
        np.save(buf, a)
    return buf.getvalue()


def test_reads_every_array_in_order():
    arrays = [np.arange(24, dtype=np.float32).reshape(2, 3, 4), np.zeros((0, 5), np.int32),
              np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3)), np.float16(1.5)]
    got = list(ba.read_stream(Pipe(_stream(*arrays))))
    assert len(got) == len(arrays)
    for a, b in zip(arrays, got):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_truncated_and_garbage_streams_fail_clearly():
    data = _stream(np.ones((4, 4), np.float32))
    with pytest.raises(ba.BlendArrayError, match="ended inside an array"):
        list(ba.read_stream(Pipe(data[:-3])))
    with pytest.raises(ba.BlendArrayError, match="not an NPY stream"):
        list(ba.read_stream(Pipe(b"PK\x03\x04" + data)))
