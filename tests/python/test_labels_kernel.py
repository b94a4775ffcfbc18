"""The labels kernels through the ctypes binding (blendarray._lib), against
independent references: pycocotools for the RLE strings, areas and boxes, a
pure-Python MurmurHash3 for the Cryptomatte ids, NumPy for the flow."""
import struct

import numpy as np
import pycocotools.mask as coco
import pytest

from blendarray import _lib
from blendarray._errors import BlendArrayError

DTYPES = ["uint8", "uint16", "uint32", "int32", "float32"]
ID_MAX = {"uint8": 255, "uint16": 65535, "uint32": 2**32 - 1, "int32": 2**31 - 1,
          "float32": 2**24}  # float32: every integer up to 2^24 is exact


def reference(ids):
    """pycocotools' view of every non-zero id of `ids`."""
    out = []
    for v in np.unique(ids):
        if v == 0:
            continue
        mask = np.asfortranarray((ids == v).astype(np.uint8))
        rle = coco.encode(mask)
        out.append({"id": int(v), "area": int(coco.area(rle)),
                    "bbox": [int(b) for b in coco.toBbox(rle)],
                    "counts": rle["counts"].decode()})
    return out


def random_ids(rng, h, w, dtype, kind):
    n = int(rng.integers(1, 9))
    pool = rng.choice(np.arange(1, ID_MAX[dtype] + 1, max(1, ID_MAX[dtype] // 5000)), n,
                      replace=False).astype(np.uint64)
    if kind == "noise":
        ids = np.where(rng.random((h, w)) < 0.3, 0, pool[rng.integers(0, n, (h, w))])
    else:  # shapes over a background, some touching the borders
        ids = np.zeros((h, w), np.uint64)
        yy, xx = np.ogrid[:h, :w]
        for v in pool:
            cy, cx = rng.integers(-2, h + 2), rng.integers(-2, w + 2)
            ry, rx = rng.integers(1, h // 2 + 2), rng.integers(1, w // 2 + 2)
            if rng.random() < 0.5:
                ids[(np.abs(yy - cy) <= ry) & (np.abs(xx - cx) <= rx)] = v
            else:
                ids[((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1] = v
        if kind == "full":
            ids[ids == 0] = pool[0]
    return ids.astype(dtype)


SIZES = [(1, 1), (1, 17), (23, 1), (2, 2), (7, 5), (31, 33), (64, 48), (101, 3), (3, 101),
         (120, 160)]
CASES = [(i, s, DTYPES[i % 5], ["shapes", "noise", "full"][i % 3])
         for i, s in enumerate(SIZES * 3 + [(1, 300), (300, 1), (257, 129)])]


@pytest.mark.parametrize("seed,size,dtype,kind", CASES)
def test_instances_equal_pycocotools(seed, size, dtype, kind):
    rng = np.random.default_rng(seed)
    ids = random_ids(rng, *size, dtype, kind)
    got = _lib.instances(ids)
    assert got == reference(ids)
    for inst in got:
        counts = _lib.rle_from_string(inst["counts"])
        want = (ids == inst["id"]).astype(np.uint8)
        assert counts.dtype == np.uint32 and counts.sum() == ids.size
        assert np.array_equal(_lib.rle_decode(counts, *size), want)
        # pycocotools decodes our string to the same mask
        rle = {"size": list(size), "counts": inst["counts"].encode()}
        assert np.array_equal(coco.decode(rle), want)


def test_instances_of_views_and_empty_images():
    ids = np.arange(60, dtype=np.uint32).reshape(6, 10) % 4
    want = reference(ids)
    assert _lib.instances(ids[::-1][::-1]) == want
    assert _lib.instances(np.asfortranarray(ids)) == want
    big = np.zeros((6, 14), np.uint32)
    big[:, 2:12] = ids
    assert _lib.instances(big[:, 2:12]) == want  # padded rows, no copy
    assert _lib.instances(ids[:, ::-1]) == reference(ids[:, ::-1])
    rgba = np.random.default_rng(3).random((6, 10, 4), dtype=np.float32)
    rgba[..., 0] = ids.view(np.float32)  # ids as a Cryptomatte pass's rank-0 channel holds them
    assert _lib.instances(rgba[..., 0].view(np.uint32)) == want  # pixels 16 bytes apart, no copy
    assert _lib.instances(ids[:, ::2]) == reference(ids[:, ::2])
    for shape in [(0, 5), (5, 0), (0, 0), (4, 4)]:
        assert _lib.instances(np.zeros(shape, np.uint16)) == []
    assert _lib.instances(np.full((2, 3), -0.0, np.float32)) == []


def test_instances_large_ids():
    ids = np.array([[0, 2**32 - 1], [2**31, 2**32 - 1]], np.uint32)
    got = _lib.instances(ids)
    assert [i["id"] for i in got] == [2**31, 2**32 - 1]
    assert got == reference(ids)
    f = np.array([[4294967040.0, 0]], np.float32)  # the largest float32 below 2^32
    assert _lib.instances(f)[0]["id"] == 4294967040


@pytest.mark.parametrize("bad", [np.zeros((3, 3), np.float64), np.zeros((3, 3), np.int64),
                                 np.zeros((3, 3), bool), np.zeros((3, 3), np.int8),
                                 np.zeros((3, 3), np.float16), np.zeros((3, 3, 1), np.uint32),
                                 np.zeros(9, np.uint32), np.zeros((3, 3), ">u4")])
def test_instances_wrong_arrays(bad):
    with pytest.raises(ValueError, match="2-D array of uint8, uint16, uint32, int32 or float32"):
        _lib.instances(bad)


@pytest.mark.parametrize("dtype,value", [("int32", -1), ("float32", 0.5), ("float32", np.nan),
                                         ("float32", np.inf), ("float32", -2.0),
                                         ("float32", 2.0**32)])
def test_instances_bad_ids(dtype, value):
    ids = np.ones((4, 4), dtype)
    ids[2, 3] = value
    with pytest.raises(ValueError, match=r"not an integer in 0\.\.4294967295"):
        _lib.instances(ids)


def test_instances_too_many():
    ids = np.arange(20, dtype=np.uint8).reshape(4, 5)
    assert len(_lib.instances(ids, max_instances=19)) == 19
    with pytest.raises(ValueError, match="more than max_instances=18 distinct ids"):
        _lib.instances(ids, max_instances=18)


def test_rle_strings():
    assert list(_lib.rle_from_string("321O4")) == [3, 2, 1, 1, 5]
    assert list(_lib.rle_from_string(b"")) == []
    for bad in ["1 2", "12p", "1P", "O", "001O", "PPPPPP4", "PPPPPPP0", "é"]:
        with pytest.raises(BlendArrayError, match="not a COCO compressed RLE string"):
            _lib.rle_from_string(bad)
    with pytest.raises(BlendArrayError, match="counts for a 3x4 mask"):
        _lib.rle_decode([3, 2, 1], 3, 4)


# --- Cryptomatte: an independent MurmurHash3_x86_32 --------------------------

def murmur3_32(data, seed=0):
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF

    def rotl(x, r):
        return ((x << r) | (x >> (32 - r))) & mask

    h = seed
    n = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[:4 * n]):
        k = rotl((k * c1) & mask, 15) * c2 & mask
        h = (rotl(h ^ k, 13) * 5 + 0xE6546B64) & mask
    tail = data[4 * n:]
    if tail:
        k = int.from_bytes(tail, "little")
        h ^= rotl((k * c1) & mask, 15) * c2 & mask
    h ^= len(data)
    h ^= h >> 16
    h = h * 0x85EBCA6B & mask
    h ^= h >> 13
    h = h * 0xC2B2AE35 & mask
    return h ^ (h >> 16)


def float_bits(h):
    exp = min(max((h >> 23) & 255, 1), 254)
    return (h & 0x80000000) | exp << 23 | (h & 0x7FFFFF)


def test_cryptomatte():
    assert murmur3_32(b"hello") == 0x248BFA47  # the reference implementation's value
    names = ["", "a", "ab", "abc", "abcd", "RedCube", "Ground", "Camera", "Cube.001", "ümlaut 名前",
             "x" * 1000] + [f"object_{i}" for i in range(200)]
    for name in names:
        h = _lib.cryptomatte_hash(name)
        assert h == murmur3_32(name.encode("utf-8")), name
        assert _lib.cryptomatte_id(h) == float_bits(h)
        f = np.array([_lib.cryptomatte_id(h)], np.uint32).view(np.float32)[0]
        assert np.isfinite(f) and f != 0 and abs(f) >= np.finfo(np.float32).tiny
    assert _lib.cryptomatte_id(_lib.cryptomatte_hash("RedCube")) == 0x170703CA
    assert _lib.cryptomatte_id(_lib.cryptomatte_hash("Ground")) == 0x24950135


# --- optical flow --------------------------------------------------------------

def test_flow_from_vector():
    rng = np.random.default_rng(7)
    v = rng.normal(size=(5, 7, 4)).astype(np.float32)
    fw, bw = np.full((5, 7, 2), 9, np.float32), np.full((5, 7, 2), 9, np.float32)
    assert _lib.flow_from_vector(v, fw, bw) == (fw, bw)
    assert np.array_equal(fw, np.stack([-v[..., 2], v[..., 3]], -1))
    assert np.array_equal(bw, np.stack([v[..., 0], -v[..., 1]], -1))
    only = np.zeros((5, 7, 2), np.float32)
    _lib.flow_from_vector(v, backward=only)
    assert np.array_equal(only, bw)
    _lib.flow_from_vector(v)  # nothing to fill
    _lib.flow_from_vector(np.zeros((0, 3, 4), np.float32), np.zeros((0, 3, 2), np.float32))
    for bad in [v.astype(np.float64), v[..., :3].copy(), v[:, ::-1]]:
        with pytest.raises(ValueError, match=r"vector must be a C-contiguous \(H, W, 4\) float32"):
            _lib.flow_from_vector(bad, fw)
    with pytest.raises(ValueError, match=r"forward must be a writeable C-contiguous \(5, 7, 2\)"):
        _lib.flow_from_vector(v, np.zeros((5, 6, 2), np.float32))
    with pytest.raises(ValueError, match=r"backward must be"):
        _lib.flow_from_vector(v, backward=np.zeros((5, 7, 2), np.float64))
