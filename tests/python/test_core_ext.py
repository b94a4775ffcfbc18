"""The CPython extension: NPY files equal NumPy's own, written atomically."""
import os

import numpy as np
import pytest

import blendarray as ba
from blendarray import _core


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8", "int32", "uint16"])
@pytest.mark.parametrize("shape", [(480, 640, 4), (7,), (3, 5), (), (2, 1, 3, 1)])
def test_npy_matches_numpy(tmp_path, dtype, shape):
    rng = np.random.default_rng(1)
    a = (rng.random(shape) * 200).astype(dtype)
    ba.save_npy(tmp_path / "ours.npy", a)
    np.save(tmp_path / "numpy.npy", a)
    ours, theirs = (tmp_path / "ours.npy").read_bytes(), (tmp_path / "numpy.npy").read_bytes()
    assert ours == theirs
    assert np.array_equal(np.load(tmp_path / "ours.npy", mmap_mode="r"), a)


def test_refuses_to_overwrite(tmp_path):
    p = tmp_path / "x.npy"
    ba.save_npy(p, np.zeros(3, np.float32))
    with pytest.raises(ba.BlendArrayError, match="exists"):
        ba.save_npy(p, np.ones(3, np.float32))
    assert np.array_equal(np.load(p), np.zeros(3))
    ba.save_npy(p, np.ones(3, np.float32), overwrite=True)
    assert np.array_equal(np.load(p), np.ones(3))
    assert sorted(os.listdir(tmp_path)) == ["x.npy"]


def test_unwritable_directory_leaves_nothing(tmp_path):
    with pytest.raises(ba.BlendArrayError, match="cannot write"):
        ba.save_npy(tmp_path / "no" / "dir" / "x.npy", np.zeros(3, np.float32))
    assert os.listdir(tmp_path) == []


def test_unsupported_dtype(tmp_path):
    with pytest.raises(TypeError, match="unsupported"):
        ba.save_npy(tmp_path / "x.npy", np.zeros(3, np.float64))
    assert os.listdir(tmp_path) == []


def test_version_is_meson_builds_everywhere():
    """One version, in meson.build's project(): the package, the C library the
    extension links, and the library the in-Blender side loads all say it."""
    import re
    from blendarray import _lib
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "meson.build")) as f:
        want = re.search(r"^\s*version: '([0-9]+\.[0-9]+\.[0-9]+)'", f.read(), re.M).group(1)
    assert ba.__version__ == want
    assert _core.version() == want
    assert _lib.lib.ba_version_string().decode() == want
    major, minor, patch = map(int, want.split("."))
    assert _lib.lib.ba_version_number() == major * 10000 + minor * 100 + patch
