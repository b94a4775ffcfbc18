"""blendarray.read_stream: the frames of a `blendarray render -o -` stream (per frame,
a uint8 NPY array of metadata JSON naming the arrays that follow, then those NPY
arrays), read strictly forwards, with clear errors for anything else."""
import io
import json

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


def _npy(a):
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def _record(meta):
    return _npy(np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8))


def _frame(meta, arrays):
    """One frame as the CLI writes it: the record, then the arrays in pass_order."""
    return _record(dict(meta, pass_order=list(arrays))) + b"".join(_npy(a) for a in arrays.values())


FRAMES = [
    ({"frame": 1, "K": [[1.5, 0.0, 2.0], [0.0, 1.5, 1.0], [0.0, 0.0, 1.0]], "scene": "Scène",
      "passes": {"depth": {"channels": "Z"}, "rgba": {"channels": "RGBA"}}, "angle": 0.25},
     {"depth": np.arange(6, dtype=np.float32).reshape(2, 3),
      "rgba": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
      "object_index": np.array([[0, 1, 2], [3, 4, -5]], np.int32),
      "display": np.full((2, 3, 4), 7, np.uint8)}),
    ({"frame": 2}, {"Layer/depth": np.zeros((0, 5), np.float16),
                    "fortran": np.asfortranarray(np.arange(6, dtype=np.uint8).reshape(2, 3))}),
    ({"frame": 3}, {}),  # a frame may hold no arrays
]


def test_reads_every_frame_with_its_metadata_in_order():
    data = b"".join(_frame(m, a) for m, a in FRAMES)
    got = list(ba.read_stream(Pipe(data)))
    assert len(got) == len(FRAMES)
    for (meta, arrays), frame in zip(FRAMES, got):
        assert isinstance(frame, ba.Frame)
        assert frame.meta == meta  # "pass_order" is the stream's, not the frame's
        assert list(frame) == list(arrays)  # the arrays' order is kept
        for name, a in arrays.items():
            assert frame[name].dtype == a.dtype and np.array_equal(frame[name], a), name
    assert list(ba.read_stream(Pipe(b""))) == []  # an empty stream: no frames


def test_reads_from_a_file_object_without_readinto():
    class Reader:
        def __init__(self, data):
            self.f = io.BytesIO(data)

        def read(self, n=-1):
            return self.f.read(min(n, 5))

    meta, arrays = FRAMES[0]
    (frame,) = ba.read_stream(Reader(_frame(meta, arrays)))
    assert frame.meta == meta and np.array_equal(frame["rgba"], arrays["rgba"])


def test_truncated_streams_say_where_they_ended():
    meta, arrays = FRAMES[0]
    one = _frame(meta, arrays)
    record = _record(dict(meta, pass_order=list(arrays)))
    with pytest.raises(ba.BlendArrayError, match=r"ended inside array 'display' \(4 of 4\)"):
        list(ba.read_stream(Pipe(one[:-3])))
    with pytest.raises(ba.BlendArrayError, match=r"ended before array 'depth' \(1 of 4\)"):
        list(ba.read_stream(Pipe(record)))
    with pytest.raises(ba.BlendArrayError, match="ended inside the metadata record of the "
                       "stream's frame index 1"):
        list(ba.read_stream(Pipe(one + record[:20])))
    with pytest.raises(ba.BlendArrayError, match="ended inside the metadata record"):
        list(ba.read_stream(Pipe(one[:3])))  # even inside the magic


def test_streams_that_are_not_blendarray_streams_fail_clearly():
    meta, arrays = FRAMES[0]
    one = _frame(meta, arrays)
    with pytest.raises(ba.BlendArrayError, match="not a blendarray stream: .* starts with b'PK"):
        list(ba.read_stream(Pipe(b"PK\x03\x04" + one)))
    # plain NPY arrays (the stream's format before it carried metadata)
    with pytest.raises(ba.BlendArrayError, match="not a blendarray stream: the metadata record "
                       r"of the stream's frame index 0 is a float32 array of shape \(2, 3\)"):
        list(ba.read_stream(Pipe(_npy(arrays["depth"]))))
    with pytest.raises(ba.BlendArrayError, match="is not JSON text"):
        list(ba.read_stream(Pipe(_npy(np.frombuffer(b"{not json", np.uint8)))))
    with pytest.raises(ba.BlendArrayError, match="no \"pass_order\" list"):
        list(ba.read_stream(Pipe(_record({"frame": 1}))))
    with pytest.raises(ba.BlendArrayError, match="no \"pass_order\" list"):
        list(ba.read_stream(Pipe(_record([1, 2]))))
    with pytest.raises(ba.BlendArrayError, match="names a pass twice"):
        list(ba.read_stream(Pipe(_record({"pass_order": ["rgba", "rgba"]}))))
    bad = one.replace(b"'descr': '<f4'", b"'descr': 'xx'", 1)
    with pytest.raises(ba.BlendArrayError, match="bad NPY header"):
        list(ba.read_stream(Pipe(bad)))
    # frames already read are delivered before the error
    it = ba.read_stream(Pipe(one + b"garbage!"))
    assert next(it).meta == meta
    with pytest.raises(ba.BlendArrayError, match="not a blendarray stream"):
        next(it)
