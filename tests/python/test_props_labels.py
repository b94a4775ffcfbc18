"""Properties of the labels kernels (src/labels.c) on random inputs, each against
an independent reference: pycocotools (COCO RLE strings, areas, boxes, masks) and
NumPy (np.unique for the instance list, plain array arithmetic for coverage and
flow), or a transcription of pycocotools' maskApi.c where it exposes no function.

The instance finder keeps an open-addressing table id -> instance (64 slots,
doubled before it is half full: at the 33rd, 65th, 129th, ... distinct id) and
an instance array (16, doubled at the 17th, 33rd, ... id). The id counts are
drawn around each of those thresholds, up to a few thousand, and with ids that
all land in the same slot (multiples of 2^16: Knuth's multiplicative hash keeps
the low bits), so that growth, rehashing and long probe chains are exercised.
"""
import ctypes

import numpy as np
import pycocotools.mask as coco
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from blendarray import _lib, labels
from blendarray import _core

pytestmark = [pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools"),
              pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")]

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

ID_DTYPES = ["uint8", "uint16", "uint32", "int32", "float32", "cryptomatte"]
# distinct ids on both sides of every growth of the table (64 slots, doubled when
# half full) and of the instance array (16, doubled when full)
THRESHOLDS = sorted({1, 2, 3} | {t + d for t in (16, 32, 64, 128, 256, 512, 1024, 2048)
                                 for d in (-1, 0, 1)} | {3000})


# --- references ----------------------------------------------------------------

def reference(ids):
    """pycocotools' instances of the id image `ids` (a plain (H, W) array): for
    each non-zero id (np.unique), ascending, the area, box and compressed RLE
    that pycocotools.mask.encode / area / toBbox give for its mask."""
    u = np.unique(ids)
    u = u[u != 0]
    if u.size == 0:
        return []
    masks = np.asfortranarray((ids[:, :, None] == u[None, None, :]).astype(np.uint8))
    rles = coco.encode(masks)
    areas, boxes = coco.area(rles), coco.toBbox(rles)
    return [{"id": int(v), "area": int(a), "bbox": [int(b) for b in box],
             "counts": r["counts"].decode()} for v, a, box, r in zip(u, areas, boxes, rles)]


def mask_of_counts(counts, h, w):
    """The (h, w) mask of uncompressed COCO counts: runs of 0 and 1 alternating,
    column-major (NumPy's repeat)."""
    vals = np.arange(len(counts)) % 2
    return np.repeat(vals.astype(np.uint8), np.asarray(counts, np.int64)).reshape(w, h).T


def coco_string_decode(s):
    """pycocotools maskApi.c rleFrString, transcribed, with blendarray's documented
    refusals: None for a string that is not COCO RLE (a character outside '0'..'o',
    a count left unterminated or longer than 7 characters, a count outside
    0..2^32-1)."""
    counts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            if p >= len(s) or k >= 7:
                return None
            c = s[p] - 48
            if not 0 <= c <= 63:
                return None
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        if not 0 <= x < 2 ** 32:
            return None
        counts.append(x)
    return counts


# --- id images -----------------------------------------------------------------

def id_pool(rng, dtype, n, mode):
    """n distinct non-zero ids a `dtype` image can hold."""
    if dtype == "uint8":
        n = min(n, 255)
        return rng.permutation(np.arange(1, 256))[:n].astype(np.uint64)
    if mode == "collide" and dtype != "uint16":  # all in slot 0 until the table has 2^16 slots
        top = 2 ** 15 if dtype in ("int32", "float32") else 2 ** 16
        return (rng.choice(np.arange(1, top), n, replace=False).astype(np.uint64) << 16)
    if mode == "dense":
        return np.arange(1, n + 1, dtype=np.uint64)
    if dtype == "cryptomatte":  # the ids of objects' names, as the passes hold them
        names = rng.choice(10 ** 6, n, replace=False)
        return np.array(sorted({_lib.cryptomatte_id(_lib.cryptomatte_hash(f"object_{k}"))
                                for k in names}), np.uint64)
    top = {"uint16": 2 ** 16 - 1, "uint32": 2 ** 32 - 1, "int32": 2 ** 31 - 1,
           "float32": 2 ** 24, "cryptomatte": 2 ** 32 - 1}[dtype]
    pool = set()
    if dtype in ("uint32", "cryptomatte"):
        pool |= {2 ** 32 - 1, 2 ** 31}
    if dtype == "float32":  # exact float32 integers up to the largest below 2^32
        pool |= {4294967040, 2 ** 31, 2 ** 24 + 2}
    if dtype == "int32":
        pool.add(2 ** 31 - 1)
    pool = sorted(pool)[:max(0, n // 2)]
    while len(pool) < n:
        more = rng.integers(1, top + 1, n, dtype=np.uint64)
        pool = list(dict.fromkeys(pool + [int(v) for v in more]))[:n]
    return rng.permutation(np.array(pool, np.uint64))


def id_image(rng, h, w, pool, kind):
    """An (h, w) uint64 image holding every id of the pool (if it has the pixels),
    with background 0: runs in COCO's column-major order (they wrap from a
    column's bottom to the next column's top), noise, or a full image."""
    n = h * w
    if kind == "runs":
        seq, left = [], n
        order = list(pool)
        while left > 0:
            # short enough that every id of the pool still finds a run
            ln = int(min(left - len(order) + 1 if order else left, rng.geometric(0.15)))
            v = order.pop() if order else (0 if rng.random() < 0.4 else rng.choice(pool))
            seq.append(np.full(ln, v, np.uint64))
            left -= ln
        flat = np.concatenate(seq) if seq else np.zeros(0, np.uint64)
        return flat.reshape(w, h).T.copy()
    flat = np.where(rng.random(n) < (0.0 if kind == "full" else 0.3), 0,
                    pool[rng.integers(0, len(pool), n)]).astype(np.uint64)
    k = min(n, len(pool))
    flat[rng.permutation(n)[:k]] = pool[:k]
    return flat.reshape(h, w)


def as_dtype(ids, dtype):
    if dtype == "cryptomatte":
        return ids.astype(np.uint32)
    return ids.astype(np.float64).astype(np.float32) if dtype == "float32" else ids.astype(dtype)


def strided_view(rng, a, layout):
    """A view of a copy of `a` (same values) laid out as `layout` says: contiguous,
    padded rows, every other pixel, reversed rows or columns, transposed, a
    channel of an (H, W, 4) array (the Cryptomatte layout: uint32 bits of float32
    pixels 16 bytes apart), or misaligned odd strides in a byte buffer."""
    h, w = a.shape
    if layout == "contiguous":
        return a.copy()
    if layout == "padded":
        big = np.zeros((h, w + 3), a.dtype)
        big[:, 1:w + 1] = a
        return big[:, 1:w + 1]
    if layout == "step":
        big = np.zeros((2 * h, 3 * w), a.dtype)
        big[::2, ::3] = a
        return big[::2, ::3]
    if layout == "flip_rows":
        return a[::-1].copy()[::-1]
    if layout == "flip_cols":
        return a[:, ::-1].copy()[:, ::-1]
    if layout == "transposed":
        return a.T.copy().T
    if layout == "channel":
        big = rng.random((h, w, 4)).astype(np.float32).view(np.uint32) if a.itemsize == 4 \
            else np.zeros((h, w, 4), a.dtype)
        big = big.view(a.dtype)
        big[..., 2] = a
        return big[..., 2]
    # "odd": rows and pixels at strides no multiple of the item size, misaligned
    isz = a.itemsize
    ps = isz + int(rng.integers(0, 4))
    rs = max(w - 1, 0) * ps + isz + int(rng.integers(0, 5))
    buf = np.zeros(h * rs + w * ps + 8, np.uint8)
    v = np.ndarray((h, w), a.dtype, buffer=buf, offset=1, strides=(rs, ps))
    v[...] = a
    return v


@st.composite
def id_images(draw, dtypes=tuple(ID_DTYPES), counts=tuple(THRESHOLDS)):
    dtype = draw(st.sampled_from(dtypes))
    n = draw(st.sampled_from(counts))
    mode = draw(st.sampled_from(["spread", "collide", "dense"]))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    pool = id_pool(rng, dtype, n, mode)
    n = len(pool)
    shape = draw(st.sampled_from(["1xN", "Nx1", "square", "wide", "tall"]))
    px = n * draw(st.sampled_from([1, 2, 3])) + draw(st.integers(0, 40))
    if shape == "1xN":
        h, w = 1, px
    elif shape == "Nx1":
        h, w = px, 1
    else:
        side = max(1, int(px ** 0.5))
        third = max(1, side // 3)
        h, w = {"square": (side, -(-px // side)), "wide": (third, -(-px // third)),
                "tall": (-(-px // third), third)}[shape]
    kind = draw(st.sampled_from(["runs", "noise", "full"]))
    ids = as_dtype(id_image(rng, h, w, pool, kind), dtype)
    layout = draw(st.sampled_from(["contiguous", "padded", "step", "flip_rows", "flip_cols",
                                   "transposed", "channel", "odd"]))
    if dtype == "cryptomatte":
        layout = "channel"  # the Cryptomatte pass's rank channel, its float bits as uint32
    return ids, strided_view(rng, ids, layout)


# --- instances -----------------------------------------------------------------

@settings(max_examples=200, **SETTINGS)
@given(id_images())
def test_instances_equal_pycocotools(img):
    """Reference: np.unique for the ids, pycocotools.mask.encode/area/toBbox of
    each id's mask for its COCO RLE string, area and box; every dtype, shapes
    1xN, Nx1 and 2-D, 1 to 3000 distinct ids (both sides of every table growth,
    colliding ids too), views with any strides (the binding passes them or
    copies)."""
    ids, view = img
    assert np.array_equal(view, ids)
    got = _lib.instances(view)
    assert got == reference(ids)
    for inst in got[:: max(1, len(got) // 8)]:  # a few: pycocotools decodes our strings
        rle = {"size": list(ids.shape), "counts": inst["counts"].encode()}
        assert np.array_equal(coco.decode(rle), (ids == ids.dtype.type(inst["id"])))


@settings(max_examples=40, **SETTINGS)
@given(st.sampled_from(["uint8", "uint16", "uint32", "int32", "float32"]),
       st.integers(0, 5), st.integers(0, 5))
def test_instances_of_empty_and_background(dtype, h, w):
    """Reference: np.unique (no non-zero id: no instance), for images with a
    zero dimension, all background, or -0.0 background in float32."""
    for fill in (0, -0.0) if dtype == "float32" else (0,):
        assert _lib.instances(np.full((h, w), fill, dtype)) == []


@settings(max_examples=40, **SETTINGS)
@given(id_images(dtypes=("uint16", "uint32", "int32"), counts=(15, 16, 17, 32, 33, 64, 65, 300)),
       st.integers(-2, 2))
def test_max_instances(img, delta):
    """Reference: len(np.unique(ids) without 0): the instance list when it is at
    most max_instances, otherwise a ValueError that says so."""
    ids, view = img
    n = len(np.unique(ids[ids != 0]))
    limit = max(0, n + delta)
    if n <= limit:
        assert len(_lib.instances(view, max_instances=limit)) == n
    else:
        with pytest.raises(ValueError, match=f"more than max_instances={limit} distinct ids"):
            _lib.instances(view, max_instances=limit)


BAD = {"int32": [-1, -2 ** 31, -7], "float32": [0.5, -1.0, np.nan, np.inf, -np.inf, 2.0 ** 32,
                                                 1e20, 3.25, -0.5, 8388607.5]}


@settings(max_examples=60, **SETTINGS)
@given(st.sampled_from(["int32", "float32"]), st.integers(1, 30), st.integers(1, 30),
       st.integers(0, 2 ** 32 - 1), st.data())
def test_invalid_ids_refused(dtype, h, w, seed, data):
    """Reference: NumPy's test of each value (negative, fractional, NaN, infinite
    or >= 2^32 is not an id): an image with one such value anywhere, also
    inside a run of itself or after a run of the same valid id, is refused;
    the same image without it is not."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, 4, (h, w)).astype(dtype)
    bad = data.draw(st.sampled_from(BAD[dtype]))
    start = data.draw(st.integers(0, h * w - 1))
    run = data.draw(st.integers(1, 3))
    flat = ids.T.reshape(-1).copy()  # COCO's order: a run of the bad value, maybe wrapping
    flat[start:start + run] = np.array(bad).astype(dtype)
    bad_ids = flat.reshape(w, h).T.copy()
    f = bad_ids.astype(np.float64)
    assert not (np.isfinite(f) & (f >= 0) & (f < 2.0 ** 32) & (f % 1 == 0)).all()
    with pytest.raises(ValueError, match=r"not an integer in 0\.\.4294967295"):
        _lib.instances(bad_ids)
    assert _lib.instances(ids) == reference(ids)


# --- COCO compressed RLE strings ----------------------------------------------------

@st.composite
def rle_counts(draw):
    """Uncompressed counts for an (h, w) mask, h * w their sum: zero runs, long runs,
    and neighbours far apart (differences that need 7 characters)."""
    h = draw(st.integers(0, 40))
    n = draw(st.integers(0, 60))
    big = draw(st.booleans())
    vals = draw(st.lists(st.integers(0, 2 ** 32 - 1) if big else st.integers(0, 50),
                         min_size=n, max_size=n))
    return h, vals


@settings(max_examples=150, **SETTINGS)
@given(rle_counts())
def test_rle_string_equals_pycocotools(hc):
    """Reference: pycocotools.mask.frPyObjects (maskApi.c rleToString) for the
    string of any counts (as for a mask of height h and width sum / h); the
    string decodes back to the counts (blendarray's reader), and, where the mask
    is small, pycocotools.mask.decode and blendarray's rle_decode give the mask
    that NumPy's repeat builds from the counts."""
    h, counts = hc
    total = sum(counts)
    arr = (ctypes.c_uint32 * max(1, len(counts)))(*counts)
    buf = ctypes.create_string_buffer(_lib.lib.ba_rle_string_bound(len(counts)))
    n = ctypes.c_size_t()
    assert _lib.lib.ba_rle_to_string(arr, len(counts), buf, len(buf), ctypes.byref(n)) == 0
    s = buf.raw[:n.value]
    assert buf.raw[n.value] == 0
    # the string depends on the counts only, not on the size given with them
    assert coco.frPyObjects({"counts": counts, "size": [1, 1]}, 1, 1)["counts"] == s
    assert _core.rle_counts(s) == counts
    if 0 < total <= 4096:
        h = h if h and total % h == 0 else 1
        want = mask_of_counts(counts, h, total // h)
        assert np.array_equal(labels.mask({"size": [h, total // h], "counts": counts}), want)
        assert np.array_equal(coco.decode({"counts": s, "size": [h, total // h]}), want)
    for cap in (0, n.value):  # one byte short of the NUL: refused, nothing overrun
        small = ctypes.create_string_buffer(cap)
        assert _lib.lib.ba_rle_to_string(arr, len(counts), small, cap, None) == 8  # BA_EBUFSIZE


@settings(max_examples=200, **SETTINGS)
@given(st.binary(max_size=30) | st.text(alphabet=[chr(c) for c in range(46, 114)], max_size=30)
       .map(str.encode))
def test_rle_string_decode_equals_transcription(s):
    """Reference: pycocotools' rleFrString transcribed in Python, with the
    refusals blendarray documents (outside '0'..'o', unterminated, longer than 7
    characters, a count outside uint32): equal counts, or ValueError."""
    want = coco_string_decode(s)
    if want is None:
        with pytest.raises(ValueError, match="not a COCO compressed RLE string"):
            _core.rle_counts(s)
    else:
        assert _core.rle_counts(s) == want


@settings(max_examples=100, **SETTINGS)
@given(st.integers(0, 12), st.integers(0, 12), st.lists(st.integers(0, 40), max_size=12),
       st.integers(-2, 2))
def test_rle_decode_equals_numpy(h, w, counts, fix):
    """Reference: NumPy's repeat of alternating 0/1 runs, column-major, when the
    counts sum to h * w (the C kernel and the extension's labels.mask, which
    decodes pycocotools' string of them); refused otherwise."""
    counts = list(counts)
    want_sum = h * w
    if counts and fix == 0:  # make most examples valid: the last run fills the rest
        rest = want_sum - sum(counts[:-1])
        if rest >= 0:
            counts[-1] = rest
    if sum(counts) == want_sum:
        want = mask_of_counts(counts, h, w)
        assert np.array_equal(labels.mask({"size": [h, w], "counts": counts}), want)
        if h and w:
            s = coco.frPyObjects({"counts": counts, "size": [h, w]}, h, w)["counts"]
            assert np.array_equal(labels.mask({"size": [h, w], "counts": s.decode()}), want)
    else:
        with pytest.raises(ValueError, match=f"not the COCO RLE of a {h}x{w} mask"):
            labels.mask({"size": [h, w], "counts": counts})


# --- Cryptomatte coverage, optical flow -----------------------------------------------

@settings(max_examples=60, **SETTINGS)
@given(st.integers(0, 20), st.integers(0, 20), st.integers(0, 2 ** 32 - 1), st.integers(1, 3))
def test_coverage_equals_numpy(h, w, seed, ranks):
    """Reference: NumPy: the sum over the passes' ranks of each rank's coverage
    where the rank's id bits equal the id (bits, not float ==: -0.0 is not 0.0,
    a NaN id matches itself)."""
    rng = np.random.default_rng(seed)
    ids = np.array([0, 0x80000000, 0x7FC00000, 0x3F800000, 0x170703CA, 0xFFFFFFFF], np.uint32)
    frame = {}
    for k in range(ranks):
        p = rng.random((h, w, 4)).astype(np.float32)
        bits = p.view(np.uint32)
        bits[..., 0] = rng.choice(ids, (h, w))
        bits[..., 2] = rng.choice(ids, (h, w))
        frame[f"cryptomatte_object_0{k}"] = p
    frame["meta"] = {}
    for i in ids:
        want = np.zeros((h, w), np.float32)
        for k in range(ranks):
            p = frame[f"cryptomatte_object_0{k}"]
            for r in range(2):
                want += np.where(p[..., 2 * r].view(np.uint32) == i, p[..., 2 * r + 1], 0)
        assert np.array_equal(labels.coverage(frame, int(i)), want)
        out = np.zeros(h * w, np.float32)
        _core.cryptomatte_coverage(out, frame["cryptomatte_object_00"], int(i))
        assert np.array_equal(out.reshape(h, w),
                              sum(np.where(frame["cryptomatte_object_00"][..., 2 * r]
                                           .view(np.uint32) == i,
                                           frame["cryptomatte_object_00"][..., 2 * r + 1], 0)
                                  for r in range(2)).astype(np.float32))


@settings(max_examples=40, **SETTINGS)
@given(st.integers(0, 30), st.integers(0, 30), st.integers(0, 2 ** 32 - 1))
def test_flow_equals_numpy(h, w, seed):
    """Reference: NumPy: forward = (-v[2], v[3]), backward = (v[0], -v[1]) of
    Blender's vector pass, bit for bit (NaN, infinities and -0.0 included)."""
    rng = np.random.default_rng(seed)
    v = rng.normal(size=(h, w, 4)).astype(np.float32)
    if v.size:
        v.reshape(-1)[rng.integers(0, v.size, 3)] = rng.choice([np.nan, np.inf, -0.0], 3)
    fw, bw = np.full((h, w, 2), 7, np.float32), np.full((h, w, 2), 7, np.float32)
    _lib.flow_from_vector(v, fw, bw)
    assert np.array_equal(fw.view(np.uint32), np.stack([-v[..., 2], v[..., 3]], -1).view(np.uint32))
    assert np.array_equal(bw.view(np.uint32), np.stack([v[..., 0], -v[..., 1]], -1).view(np.uint32))


def test_thresholds_are_reached():
    """The id counts drawn reach past the table's initial capacity (64 slots, so
    33 ids) several times over, and straddle each doubling."""
    assert max(THRESHOLDS) > 2048 and {32, 33, 64, 65, 2048, 2049} <= set(THRESHOLDS)
    rng = np.random.default_rng(0)
    for dtype in ("uint16", "uint32", "int32", "float32", "cryptomatte"):
        assert len(id_pool(rng, dtype, 3000, "spread")) == 3000
        assert len(set(id_pool(rng, dtype, 3000, "collide").tolist())) == 3000
