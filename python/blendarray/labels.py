"""Labels as arrays (docs/labels.md): the masks of frame.meta["annotations"],
decoded from their COCO RLE, and soft masks (coverage) from the Cryptomatte
passes. The loops are C (libblendarray); this module checks arrays and names.

    frame = ba.render("scene.blend", passes=["rgba", "cryptomatte_object"], annotations=True)
    m = blendarray.labels.masks(frame)                    # (N, H, W) bool, N instances
    soft = blendarray.labels.coverage(frame, "RedCube")   # (H, W) float32 in 0..1

A frame here is a Frame, or a mapping of one frame's arrays and its "meta"
(a dict, or its JSON text as in a Ray row).
"""
import json
import re

import numpy as np

from . import _core

__all__ = ["mask", "masks", "coverage"]


def _meta(frame):
    meta = frame.meta if hasattr(frame, "meta") else frame.get("meta") if hasattr(frame, "get") \
        else None
    if isinstance(meta, (str, bytes)):
        meta = json.loads(meta)
    if not isinstance(meta, dict):
        raise TypeError(f"a frame (a Frame, or a mapping with a 'meta'), not {type(frame).__name__}")
    return meta


def mask(instance):
    """The (H, W) bool mask of one instance of frame.meta["annotations"]["instances"]
    (or of its "segmentation", COCO compressed RLE): what pycocotools.mask.decode
    gives, decoded in C."""
    seg = instance.get("segmentation", instance) if isinstance(instance, dict) else None
    if not isinstance(seg, dict) or "counts" not in seg or "size" not in seg:
        raise TypeError("mask: an instance of frame.meta['annotations']['instances'], or its "
                        "'segmentation' ({'size': [H, W], 'counts': ...})")
    h, w = (int(v) for v in seg["size"])
    out = np.zeros((h, w), np.uint8)
    _decode(seg, out)
    return out.view(np.bool_)


def _decode(seg, out):
    """COCO RLE `seg` into out, a zeroed (H, W) uint8 array (C)."""
    counts = seg["counts"]
    _core.rle_decode(counts.encode("ascii") if isinstance(counts, str) else bytes(counts), out)


def masks(frame):
    """The masks of every instance of the frame's annotations, in their order:
    (N, H, W) bool (N = 0 for a frame where no object is visible). The frame was
    rendered with annotations=True."""
    meta = _meta(frame)
    ann = meta.get("annotations")
    if ann is None:
        raise ValueError("masks: the frame has no annotations: render it with annotations=True")
    w, h = meta["resolution"]
    out = np.zeros((len(ann["instances"]), h, w), np.uint8)
    for i, inst in enumerate(ann["instances"]):
        seg = inst["segmentation"]
        if list(seg["size"]) != [h, w]:
            raise ValueError(f"masks: instance {inst.get('name')!r} is {seg['size']}, the frame "
                             f"{h}x{w}")
        _decode(seg, out[i])
    return out.view(np.bool_)


_PASS = re.compile(r"^cryptomatte_(object|material|asset)_(\d\d)$")


def coverage(frame, of, kind="object"):
    """The fraction of each pixel that an object (kind "material": a material,
    "asset": an object's root parent) covers, (H, W) float32 in 0..1: the soft
    mask, summed over the ranks of the frame's Cryptomatte passes of that kind,
    as Blender's Cryptomatte node makes its matte.

    of: a name (str), an instance of frame.meta["annotations"]["instances"], or
      a Cryptomatte id (int, the bits of its float: an instance's "id").
    The passes: cryptomatte_<kind>_00 holds the two strongest ranks a pixel
    (annotations=True captures it); ask for "cryptomatte_<kind>" to have all of
    them (the view layer's depth, 6 by default: _00, _01, _02), which a pixel
    where more than two objects meet needs to sum to its whole coverage.
    """
    if kind not in ("object", "material", "asset"):
        raise ValueError(f"coverage: kind is 'object', 'material' or 'asset', not {kind!r}")
    meta = _meta(frame)
    if isinstance(of, str):
        names = (meta.get("cryptomatte") or {}).get(kind)
        if names is not None and of not in names:
            close = sorted(names)[:20]
            raise KeyError(f"coverage: no {kind} named {of!r} in the frame's Cryptomatte "
                           f"manifest; names: {', '.join(close)}")
        ident = _core.cryptomatte_id(of)
    elif isinstance(of, dict) and "id" in of:
        ident = int(of["id"])
    elif isinstance(of, (int, np.integer)) and not isinstance(of, bool) and 0 <= of < 2 ** 32:
        ident = int(of)
    else:
        raise TypeError(f"coverage: of is a name, an instance or a uint32 id, not {of!r}")
    keys = sorted(k for k in frame if isinstance(k, str) and (m := _PASS.match(k))
                  and m.group(1) == kind)
    if not keys:
        raise KeyError(f"coverage: the frame has no cryptomatte_{kind}_NN pass: render with "
                       f"passes=[..., 'cryptomatte_{kind}'] (every rank)"
                       + (" or annotations=True (the two strongest)" if kind == "object" else ""))
    out = None
    for k in keys:
        p = np.asarray(frame[k])
        if p.dtype != np.float32 or p.ndim != 3 or p.shape[2] != 4:
            raise ValueError(f"coverage: {k} is {p.dtype} {p.shape}, not (H, W, 4) float32")
        if out is None:
            out = np.zeros(p.shape[:2], np.float32)
        elif p.shape[:2] != out.shape:
            raise ValueError(f"coverage: {k} is {p.shape[:2]}, {keys[0]} {out.shape}")
        _core.cryptomatte_coverage(out, np.ascontiguousarray(p), ident)
    return out
