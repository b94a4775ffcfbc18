"""The labels kernels, against independent references: pycocotools for the RLE
strings, areas and boxes, a pure-Python MurmurHash3 for the Cryptomatte ids,
NumPy for the flow. Through the binding each side uses: the ctypes one Blender
loads (blendarray._lib: instances, ids, flow) and the extension (blendarray._core,
blendarray.labels: RLE decoding, coverage)."""
import struct

import numpy as np
import pycocotools.mask as coco
import pytest

from blendarray import _core, _lib, labels

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
        counts = _core.rle_counts(inst["counts"].encode())
        want = (ids == inst["id"]).astype(bool)
        assert sum(counts) == ids.size
        assert np.array_equal(labels.mask({"size": list(size), "counts": counts}), want)
        assert np.array_equal(labels.mask({"size": list(size), "counts": inst["counts"]}), want)
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
    assert _core.rle_counts(b"321O4") == [3, 2, 1, 1, 5]
    assert _core.rle_counts(b"") == []
    for bad in ["1 2", "12p", "1P", "O", "001O", "PPPPPP4", "PPPPPPP0", "é"]:
        with pytest.raises(ValueError, match="not a COCO compressed RLE string"):
            _core.rle_counts(bad.encode())
        with pytest.raises(ValueError, match="not the COCO RLE of a 1x1 mask"):
            labels.mask({"size": [1, 1], "counts": bad})
    # a 3x4 mask, column by column: 3 off, 2 on, 1 off, 1 on, 5 off
    want = np.zeros(12, bool)
    want[3:5] = want[6] = True
    want = want.reshape(4, 3).T
    assert np.array_equal(labels.mask({"size": [3, 4], "counts": "321O4"}), want)
    assert np.array_equal(labels.mask({"size": [3, 4], "counts": [3, 2, 1, 1, 5]}), want)
    for bad in ([3, 2, 1], [3, 2, 1, 1, 6], [-1, 13], [2 ** 32, 1], [[12]], [1.5, 10.5]):
        with pytest.raises(ValueError, match="not the COCO RLE of a 3x4 mask"):
            labels.mask({"size": [3, 4], "counts": bad})


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


# --- blendarray.labels: masks and soft masks (the extension's kernels) -----------

def _meta_of(masks):
    """Annotations as the workers write them, for these (N, H, W) masks."""
    insts = []
    for i, m in enumerate(masks):
        rle = coco.encode(np.asfortranarray(m.astype(np.uint8)))
        insts.append({"id": i + 1, "name": f"o{i}",
                      "segmentation": {"size": list(m.shape), "counts": rle["counts"].decode()}})
    h, w = masks.shape[1:]
    return {"resolution": [w, h], "annotations": {"instances": insts}}


@pytest.mark.parametrize("h,w", [(1, 1), (7, 5), (48, 64), (1, 300)])
def test_masks_equal_pycocotools(h, w):
    from blendarray import labels
    rng = np.random.default_rng(h * w)
    want = rng.random((4, h, w)) < [[[0.0]], [[0.3]], [[0.9]], [[1.0]]]
    meta = _meta_of(want)
    got = labels.masks({"meta": meta})
    assert got.dtype == bool and got.shape == (4, h, w) and (got == want).all()
    for inst, m in zip(meta["annotations"]["instances"], want):
        assert (labels.mask(inst) == m).all() and (labels.mask(inst["segmentation"]) == m).all()
        assert (coco.decode(inst["segmentation"]).astype(bool) == m).all()
    import json
    assert (labels.masks({"meta": json.dumps(meta)}) == want).all()


def test_masks_bad_input():
    from blendarray import labels
    seg = _meta_of(np.ones((1, 3, 4), bool))["annotations"]["instances"][0]["segmentation"]
    with pytest.raises(ValueError, match="not the COCO RLE of a 3x5 mask"):
        labels.mask(dict(seg, size=[3, 5]))  # counts for 12 pixels, not 15
    with pytest.raises(ValueError, match="not the COCO RLE of a 3x4 mask"):
        labels.mask(dict(seg, counts="\x01\x02"))
    with pytest.raises(TypeError, match="segmentation"):
        labels.mask({"bbox": [0, 0, 1, 1]})
    meta = _meta_of(np.ones((1, 3, 4), bool))
    meta["resolution"] = [5, 3]
    with pytest.raises(ValueError, match=r"is \[3, 4\], the frame 3x5"):
        labels.masks({"meta": meta})
    with pytest.raises(ValueError, match="annotations=True"):
        labels.masks({"meta": {"resolution": [4, 3]}})
    with pytest.raises(TypeError, match="a frame"):
        labels.masks([1, 2])


def _crypto_pass(rng, h, w, ids):
    """(H, W, 4) float32: two ranks of ids drawn from `ids`, coverages that sum to <= 1."""
    p = np.empty((h, w, 4), np.float32)
    pick = rng.choice(np.array(ids, np.uint32), (h, w, 2))
    p[..., 0], p[..., 2] = pick[..., 0].view(np.float32), pick[..., 1].view(np.float32)
    c = rng.random((h, w, 2)).astype(np.float32) / 2
    p[..., 1], p[..., 3] = c[..., 0], c[..., 1]
    return p


def test_coverage_equals_numpy():
    from blendarray import labels
    from blendarray import _core
    rng = np.random.default_rng(3)
    names = ["RedCube", "Ground", "Camera"]
    ids = [_lib.cryptomatte_id(_lib.cryptomatte_hash(n)) for n in names]
    for n, i in zip(names, ids):
        assert _core.cryptomatte_id(n) == i
    frame = {f"cryptomatte_object_0{k}": _crypto_pass(rng, 9, 13, ids + [0]) for k in range(3)}
    frame["cryptomatte_material_00"] = _crypto_pass(rng, 9, 13, ids)
    frame["rgba"] = np.zeros((9, 13, 4), np.float32)
    frame["meta"] = {"cryptomatte": {"object": {n: f"{_lib.cryptomatte_hash(n):08x}"
                                                for n in names}}}
    for n, i in zip(names, ids):
        want = np.zeros((9, 13), np.float32)
        for k in range(3):
            p = frame[f"cryptomatte_object_0{k}"]
            for r in range(2):
                want += np.where(p[..., 2 * r].view(np.uint32) == i, p[..., 2 * r + 1], 0)
        got = labels.coverage(frame, n)
        assert got.dtype == np.float32 and np.array_equal(got, want), n
        assert np.array_equal(labels.coverage(frame, i), want)
        assert np.array_equal(labels.coverage(frame, {"id": i}), want)
        m = frame["cryptomatte_material_00"]
        want_m = sum(np.where(m[..., 2 * r].view(np.uint32) == i, m[..., 2 * r + 1], 0)
                     for r in range(2))
        assert np.array_equal(labels.coverage(frame, n, "material"), want_m), n
    frame["cryptomatte_object_01"] = frame["cryptomatte_object_01"][:, ::-1]  # a view: copied
    labels.coverage(frame, "RedCube")


def test_coverage_bad_input():
    from blendarray import labels
    from blendarray import _core
    rng = np.random.default_rng(4)
    p = _crypto_pass(rng, 4, 5, [1, 2])
    frame = {"cryptomatte_object_00": p, "meta": {"cryptomatte": {"object": {"A": "00000001"}}}}
    with pytest.raises(KeyError, match="no object named 'B'.*names: A"):
        labels.coverage(frame, "B")
    with pytest.raises(KeyError, match="no cryptomatte_material_NN pass"):
        labels.coverage(frame, 1, "material")
    with pytest.raises(ValueError, match="kind is"):
        labels.coverage(frame, 1, "objects")
    for bad in (-1, 2 ** 32, True, 1.5, None):
        with pytest.raises(TypeError, match="a name, an instance or a uint32 id"):
            labels.coverage(frame, bad)
    with pytest.raises(ValueError, match=r"not \(H, W, 4\) float32"):
        labels.coverage(dict(frame, cryptomatte_object_00=p.astype(np.float64)), 1)
    with pytest.raises(ValueError, match=r"cryptomatte_object_01 is \(4, 4\)"):
        labels.coverage(dict(frame, cryptomatte_object_01=p[:, :4].copy()), 1)
    out = np.zeros(20, np.float32)
    with pytest.raises(ValueError, match="4 floats a pixel"):
        _core.cryptomatte_coverage(out[:19], p, 1)
    for o, q in ((out.view(np.int32), p), (out, p.view(np.uint32))):
        with pytest.raises(ValueError, match="float32"):
            _core.cryptomatte_coverage(o, q, 1)
    for bad in (2 ** 32, -1, 2 ** 64 + 1):  # never wrapped into range
        with pytest.raises(OverflowError):
            _core.cryptomatte_coverage(out, p, bad)
    with pytest.raises(ValueError, match="contiguous"):
        _core.cryptomatte_coverage(np.zeros(40, np.float32)[::2], p, 1)
    with pytest.raises(BufferError, match="not writable"):
        _core.cryptomatte_coverage(b"\0" * 80, p, 1)
    with pytest.raises(ValueError, match="2-D uint8"):
        _core.rle_decode(b"3", np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match="2-D uint8"):
        _core.rle_decode(b"3", np.zeros((1, 3), np.int32))
