"""Labels as arrays (docs/labels.md): the masks of frame.meta["annotations"],
decoded from their COCO RLE, soft masks (coverage) from the Cryptomatte
passes, and COCO datasets. The loops are C (libblendarray); this module checks
arrays and names.

    frame = ba.render("scene.blend", passes=["rgba", "cryptomatte_object"], annotations=True)
    m = blendarray.labels.masks(frame)                    # (N, H, W) bool, N instances
    soft = blendarray.labels.coverage(frame, "RedCube")   # (H, W) float32 in 0..1
    blendarray.labels.write_coco(frames, "out/coco")      # frames rendered with
                                                          # display=True, annotations=True

A frame here is a Frame, or a mapping of one frame's arrays and its "meta"
(a dict, or its JSON text as in a Ray row).
"""
import json
import os
import re
import warnings

import numpy as np

from . import _core
from ._errors import BlendArrayError

__all__ = ["mask", "masks", "coverage", "CocoWriter", "write_coco"]


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
    """COCO RLE `seg` into out, a zeroed (H, W) uint8 array (C): compressed (a
    string, as blendarray writes it) or uncompressed (a list of run lengths, as
    COCO's crowd annotations)."""
    counts = seg["counts"]
    if isinstance(counts, (str, bytes)):
        _core.rle_decode(counts.encode() if isinstance(counts, str) else counts, out)
    else:
        c = np.asarray(counts)
        if c.ndim != 1 or (c.size and (c.dtype.kind not in "iu" or c.min() < 0 or
                                       c.max() >= 2 ** 32)):
            raise ValueError(f"not the COCO RLE of a {out.shape[0]}x{out.shape[1]} mask "
                             "(counts: a string, or a list of run lengths 0..2^32-1)")
        _core.rle_decode_counts(c.astype(np.uint32), out)


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


# -- COCO datasets -----------------------------------------------------------------

def _arrays_and_meta(frame, what):
    """The display image and the metadata (a dict) of a Frame or a mapping."""
    meta = _meta(frame)
    if "annotations" not in meta:
        raise ValueError(f"{what}: the frame has no annotations in its meta: render it with "
                         "annotations=True")
    try:
        display = frame["display"]
    except KeyError:
        display = None
    if display is None:
        raise ValueError(f"{what}: the frame has no 'display' array (the image COCO shows): "
                         "render it with display=True")
    display = np.asarray(display)
    if display.dtype != np.uint8 or display.ndim != 3 or display.shape[2] != 4:
        raise ValueError(f"{what}: 'display' is {display.dtype} {display.shape}, not an "
                         "(H, W, 4) uint8 image")
    return np.ascontiguousarray(display), meta


def _sweep(path):
    """Remove the temporary folders that killed writers left beside `path`
    (".<name>.coco-<pid>-XXXXXX", include/blendarray.h): those whose process is gone."""
    parent, base = os.path.split(os.path.abspath(path))
    prefix = f".{base}.coco-"
    try:
        names = os.listdir(parent)
    except OSError:
        return
    import shutil
    for name in names:
        pid = name[len(prefix):].split("-", 1)[0] if name.startswith(prefix) else ""
        if not pid.isdigit():
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            shutil.rmtree(os.path.join(parent, name), ignore_errors=True)
        except OSError:  # alive, another user's
            pass


class CocoWriter:
    """A COCO dataset written as frames come (libblendarray's ba_coco_writer):
    `dir`/images/000000.png ... (each frame's display image) and
    `dir`/annotations.json, for pycocotools and the tools that read COCO.

        with blendarray.labels.CocoWriter("out/coco") as coco:
            for frame in renderer.frames(range(1, 101)):  # display=True, annotations=True
                coco.add(frame)

    Memory stays flat in the number of frames. The dataset is filled in a folder
    beside `dir` and moved into place by finish() (at the end of a `with` block
    that raised nothing): `dir` is complete or untouched. `dir` must be new or an
    empty folder, unless overwrite=True (a folder with files is then replaced);
    the folders above it are made when missing (as mkdir -p), and left.
    Instances without a category are left out (COCO needs one; docs/labels.md).
    """

    def __init__(self, dir, overwrite=False):
        self.dir = os.fspath(dir)
        self._path = None  # annotations.json's, once finished
        parent = os.path.dirname(os.path.abspath(self.dir))
        try:
            os.makedirs(parent, exist_ok=True)  # "out/coco" with no out/ yet
        except OSError as e:
            raise BlendArrayError(f"cannot make the folder {parent} for the COCO dataset "
                                  f"{self.dir}: {e.strerror}") from None
        _sweep(self.dir)
        self._w = _core.CocoWriter(self.dir, bool(overwrite))

    def add(self, frame, image_id=None):
        """One frame: a Frame rendered with display=True and annotations=True, or a
        mapping with "display" and "meta" (a dict or JSON text, as a Ray row). Its
        image id: `image_id`, else one more than the largest so far (0 first)."""
        display, meta = _arrays_and_meta(frame, "CocoWriter.add")
        try:
            self._w.add(display, json.dumps(meta), -1 if image_id is None else int(image_id))
        except ValueError as e:
            raise ValueError(f"CocoWriter.add: frame {meta.get('frame', '?')}: {e}") from None

    def finish(self, info=None):
        """Write annotations.json and move the dataset into place; `info`: keys for
        its "info" (a dict: "description", ...). Says how many instances had no
        category (a BlendArrayWarning). Returns the path of annotations.json."""
        if self._path is not None:
            return self._path
        self._w.finish(None if info is None else json.dumps(info))
        self._path = os.path.join(self.dir, "annotations.json")
        if self._w.skipped:
            from ._errors import BlendArrayWarning
            warnings.warn(f"{self._w.skipped} instance(s) without a category left out of "
                          f"{os.path.join(self.dir, 'annotations.json')}: give objects a "
                          "category_id custom property or a non-zero pass_index "
                          "(docs/labels.md)", BlendArrayWarning, stacklevel=2)
        return self._path

    def abort(self):
        """Drop the dataset: nothing of it is left (a no-op after finish)."""
        self._w.close()

    @property
    def images(self):
        return self._w.images

    @property
    def annotations(self):
        return self._w.annotations

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            if exc_type is None:
                self.finish()
        finally:
            self.abort()


def write_coco(frames, dir, overwrite=False, info=None):
    """Write `frames` (Frames rendered with display=True and annotations=True, or
    mappings with "display" and "meta") as the COCO dataset `dir` (CocoWriter):
    returns the path of its annotations.json."""
    with CocoWriter(dir, overwrite) as coco:
        for frame in frames:
            coco.add(frame)
        return coco.finish(info)
