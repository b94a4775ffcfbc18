"""Instance labels of one frame (id image -> per instance: area, COCO box, COCO
compressed RLE string), against baselines measured in the same run on the same
frame:

  kernel       ba_instances_find alone: one pass over the id image, all instances
  blendarray   _lib.instances: the kernel plus every RLE string, as Python dicts
  pycocotools  the masks given: pycocotools.mask.encode of each instance's mask
               (Fortran order), plus area and toBbox
  BlenderProc  its way: per object one NumPy pass (mask = ids == id), the box
               from mask.any(axis), area = mask.sum(), then pycocotools encode

The frame: 1920x1080 uint32 (Cryptomatte ids), 50 overlapping rectangles and
ellipses drawn with a fixed seed. Every method's output is checked to agree
before timing.

Then the way back (blendarray.labels): every instance's mask decoded from its
RLE into one (N, H, W) array, against pycocotools.mask.decode of each; and one
soft mask from a two-rank Cryptomatte pass, against the same sum in NumPy.

    .venv/bin/python bench/labels.py [--size 1920x1080] [--objects 50] [--repeat 20]
    .venv/bin/python bench/labels.py --smoke
Prints milliseconds (best of --repeat) and speedups; absolute times mean little
on a shared machine, ratios measured side by side do. --smoke: the tiniest run
to the end (80x60, 6 objects, 1 repeat): what the test suite runs
(tests/python/test_bench.py); its figures mean nothing.
"""
import argparse
import ctypes
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "build", "dev", "python"))
import numpy as np  # noqa: E402
import pycocotools.mask as coco  # noqa: E402

from blendarray import _lib  # noqa: E402


def frame(h, w, objects, seed=0):
    """Background 0 and `objects` shapes with distinct Cryptomatte-like ids, later ones on top."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((h, w), np.uint32)
    yy, xx = np.ogrid[:h, :w]
    names = [f"object_{i}" for i in range(objects)]
    for i, name in enumerate(names):
        oid = _lib.cryptomatte_id(_lib.cryptomatte_hash(name))
        cx, cy = rng.integers(0, w), rng.integers(0, h)
        rx, ry = rng.integers(w // 60, w // 6), rng.integers(h // 60, h // 6)
        if i % 2:
            shape = (np.abs(xx - cx) <= rx) & (np.abs(yy - cy) <= ry)
        else:
            shape = ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1
        ids[shape] = oid
    return ids


def kernel(ids):
    h = _lib._ptr()
    _lib.check(_lib.lib.ba_instances_find(ctypes.byref(h), ids.ctypes.data, 5, ids.shape[0],
                                          ids.shape[1], ids.strides[0], 0, 1 << 16), "kernel")
    n = _lib.lib.ba_instances_count(h)
    _lib.lib.ba_instances_free(h)
    return n


def ours(ids):
    return _lib.instances(ids)


def pycocotools(masks):
    out = []
    for oid, m in masks:
        rle = coco.encode(m)
        out.append({"id": oid, "area": int(coco.area(rle)),
                    "bbox": [int(v) for v in coco.toBbox(rle)], "counts": rle["counts"].decode()})
    return out


def blenderproc(ids):
    out = []
    for oid in np.unique(ids):
        if oid == 0:
            continue
        mask = ids == oid
        rows, cols = np.where(mask.any(axis=1))[0], np.where(mask.any(axis=0))[0]
        bbox = [int(cols[0]), int(rows[0]), int(cols[-1] - cols[0] + 1), int(rows[-1] - rows[0] + 1)]
        rle = coco.encode(np.asfortranarray(mask.astype(np.uint8)))
        out.append({"id": int(oid), "area": int(mask.sum()), "bbox": bbox,
                    "counts": rle["counts"].decode()})
    return out


def best_ms(fn, repeat):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best * 1e3


def main(argv):
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", default="1920x1080")
    ap.add_argument("--objects", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--smoke", action="store_true",
                    help="the tiniest run to the end (80x60, 6 objects, 1 repeat): what the "
                         "test suite runs; its figures mean nothing")
    a = ap.parse_args(argv)
    if a.smoke:  # 80x60: the smallest shapes' radii (size // 60) stay >= 1
        a.size, a.objects, a.repeat = "80x60", 6, 1
    w, h = (int(v) for v in a.size.split("x"))
    ids = frame(h, w, a.objects)
    # pycocotools is handed its input ready: each mask already a Fortran-order uint8 array
    masks = [(int(v), np.asfortranarray((ids == v).astype(np.uint8))) for v in np.unique(ids) if v]

    want = ours(ids)
    assert want == pycocotools(masks) == blenderproc(ids), "the methods disagree"
    assert kernel(ids) == len(want)
    print(f"{w}x{h} uint32, {len(want)} visible instances of {a.objects}; "
          f"best of {a.repeat}, one thread")

    times = {"kernel": best_ms(lambda: kernel(ids), a.repeat),
             "blendarray": best_ms(lambda: ours(ids), a.repeat),
             "pycocotools": best_ms(lambda: pycocotools(masks), max(3, a.repeat // 4)),
             "BlenderProc": best_ms(lambda: blenderproc(ids), max(3, a.repeat // 4))}
    table(times, "blendarray")

    # the other way: every instance's mask back from its RLE, and one soft mask
    from blendarray import labels
    meta = {"resolution": [w, h], "annotations": {"instances": [
        {"id": i["id"], "segmentation": {"size": [h, w], "counts": i["counts"]}} for i in want]}}
    segs = [i["segmentation"] for i in meta["annotations"]["instances"]]
    assert (labels.masks({"meta": meta}) == np.stack(
        [coco.decode(s).astype(bool) for s in segs])).all()
    print(f"\nall {len(want)} masks decoded to an (N, H, W) bool array")
    table({"blendarray": best_ms(lambda: labels.masks({"meta": meta}), a.repeat),
           "pycocotools": best_ms(lambda: np.stack([coco.decode(s) for s in segs]),
                                  max(3, a.repeat // 4))}, "blendarray")

    rng = np.random.default_rng(1)  # a Cryptomatte pass: the frame's ids at rank 0, noise at 1
    crypto = np.empty((h, w, 4), np.float32)
    crypto[..., 0] = ids.view(np.float32)
    crypto[..., 2] = rng.choice(ids.ravel()[:: 997], (h, w)).view(np.float32)
    crypto[..., 1] = rng.random((h, w), np.float32)
    crypto[..., 3] = 1 - crypto[..., 1]
    f = {"cryptomatte_object_00": crypto, "meta": {}}
    oid = want[0]["id"]

    def numpy_coverage():
        return (np.where(crypto[..., 0].view(np.uint32) == oid, crypto[..., 1], 0)
                + np.where(crypto[..., 2].view(np.uint32) == oid, crypto[..., 3], 0))
    assert np.array_equal(labels.coverage(f, oid), numpy_coverage())
    print("\none soft mask (coverage) from a two-rank Cryptomatte pass")
    table({"blendarray": best_ms(lambda: labels.coverage(f, oid), a.repeat),
           "NumPy": best_ms(numpy_coverage, a.repeat)}, "blendarray")


def table(times, base_name):
    base = times[base_name]
    print(f"{'method':<12} {'ms':>9} {'vs ' + base_name:>14}")
    for name, ms in times.items():
        print(f"{name:<12} {ms:9.2f} {ms / base:13.1f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
