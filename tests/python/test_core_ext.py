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


def test_version():
    # (float16 conversion, ba_f32_to_f16, is checked against NumPy by the C tests
    # and by the CLI's --dtype float16 test: the extension no longer binds it)
    assert _core.version() == "0.1.0"
