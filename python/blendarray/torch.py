"""blendarray.torch: rendered frames as a PyTorch dataset.

    from torch.utils.data import DataLoader
    from blendarray.torch import RenderDataset

    ds = RenderDataset("scene.blend", frames=10_000, passes=["rgba", "depth"],
                       resolution=(128, 128), setup=randomize, seed=0, batch_size=16)
    for batch in DataLoader(ds, batch_size=16, num_workers=2):
        batch["rgba"]            # (16, 128, 128, 4) float32
        batch["index"]           # (16,) the frames' indices
        batch["meta"]            # 16 dicts: K, camera pose, what the hook returned, ...

An IterableDataset: each process that iterates it (the main process, or each
DataLoader worker) starts its own warm Blender workers when iteration begins
and stops them when it ends, breaks off, raises or is garbage-collected. The
dataset object itself starts nothing, so it pickles (spawn, persistent
workers, torch.multiprocessing).

Frames are split without overlap or gap across DataLoader workers
(get_worker_info) and across torch.distributed ranks (when a process group
exists, or shard=(rank, world) given); frame i is the same whatever the split:
its setup hook gets index i and rng = numpy.random.default_rng([seed, epoch, i]).

Items are dicts: one tensor per pass (H, W[, C], as the arrays of a Frame;
channels last), "index" (int) and "meta" (a dict: the frame's metadata,
which the default collate keeps as a list of dicts). With num_workers=0 the
tensors are the ring memory the frame was rendered into (no copy; its slot
goes back to Blender when the tensors are gone); in DataLoader workers they
travel to the main process through PyTorch's shared memory (one copy, made by
PyTorch: the batch is stacked straight into shared memory).

detection_target(meta) turns a frame's labels (annotations=True) into the
target dict torchvision's detection models take (boxes, labels, masks).

Needs PyTorch: pip install "/path/to/blendarray[torch]" (blendarray is not on
PyPI: a checkout's path, or the wheel you built).
"""
import math

try:
    import torch
    from torch.utils.data import IterableDataset, get_worker_info
except ImportError as e:  # torch is an optional extra
    from ._errors import missing_extra
    raise missing_extra("torch", "PyTorch", "torch", "torch", e) from e

import numpy as np

from . import _core
from ._checks import check_frames, check_int, check_scene
from ._hooks import make_spec
from ._settings import takes_settings

__all__ = ["RenderDataset", "Meta", "detection_target"]


class Meta(dict):
    """A frame's metadata. The default collate keeps a batch's as a list of
    dicts: metadata holds None, strings and what the hook returned, which
    stacking into tensors would mangle or refuse."""


def _collate_meta(batch, *, collate_fn_map=None):
    return list(batch)


# PyTorch's documented extension point of default_collate (a type -> function map)
from torch.utils.data._utils.collate import default_collate_fn_map  # noqa: E402

default_collate_fn_map[Meta] = _collate_meta


@takes_settings
class RenderDataset(IterableDataset):
    """Rendered frames, one item per frame, for a torch DataLoader.

    scene: a .blend file (None: blendarray's demo scene). frames: an int N (N
      renders of the scene as it is, randomized by the hook: indices
      0..N-1), animation frame numbers (e.g. range(1, 251)), or dicts of
      per-frame params (as Renderer.frames takes them); frame i's index is i.
    blender, python, timeout, retries, verbose, max_worker_frames,
      max_worker_memory: as blendarray.Renderer takes them (annotations=True:
      the labels in item["meta"]["annotations"]); a recycled worker renders
      each item as one never recycled would.
    setup: the hook run in Blender before each frame, (scene, index, rng[,
      params]) -> dict merged into meta; described here, at construction, so a
      hook that cannot be sent fails now, not in a DataLoader worker.
    seed: with the epoch (set_epoch), the hook's randomness:
      default_rng([seed, epoch, index]).
    workers: Blender processes per iterating process (per DataLoader worker).
    batch_size: the DataLoader's batch size, to size the ring: each Blender
      worker gets ring = ceil(batch_size / workers) + 5 slots unless ring=
      is given (a batch's share, the frame being handed over, and the 4
      frames a worker is given ahead: it never waits for a slot while a
      batch fills). A consumer that keeps more frames than the ring holds gets
      copies (one per frame kept beyond), never a stall.
    shuffle: visit the frames in an order permuted per epoch (seeded by
      seed and epoch); each frame is rendered the same either way.
    shard: (rank, world_size): take only this share of the frames, for a
      split of your own; default: torch.distributed's rank and world size
      when a process group is initialized, else (0, 1).
    """

    def __init__(self, scene=None, frames=1, *, setup=None, seed=0, workers=1, batch_size=1,
                 ring=None, shuffle=False, shard=None, blender=None, python=None, timeout=None,
                 retries=1, verbose=False, settings=None, max_worker_frames=None,
                 max_worker_memory=None):
        super().__init__()
        self.scene = None if scene is None else check_scene(scene)
        self._frames = check_frames(frames)
        self.seed = check_int("seed", seed, 0)
        self.workers = check_int("workers", workers, 1)
        self.batch_size = check_int("batch_size", batch_size, 1)
        self.ring = None if ring is None else check_int("ring", ring, 1)
        self.shuffle = bool(shuffle)
        self.shard = None if shard is None else _check_shard(shard)
        self.epoch = 0
        from ._renderer import _check_limit  # checked now, not in a DataLoader worker
        self._render_kw = dict(settings=settings, setup=make_spec(setup), blender=blender,
                               python=python, timeout=timeout, retries=retries, verbose=verbose,
                               max_worker_frames=_check_limit("max_worker_frames",
                                                              max_worker_frames, 0),
                               max_worker_memory=_check_limit("max_worker_memory",
                                                              max_worker_memory, -1))
        self._dist = None  # (rank, world) read in the process that pickled this dataset

    # -- which frames ----------------------------------------------------------

    def __len__(self):
        """Frames this process's share yields (all DataLoader workers together)."""
        rank, world = self._rank_world()
        n = self._count()
        return len(range(rank, n, world))

    def set_epoch(self, epoch):
        """Give epoch `epoch` its own randomization (the hook's rng and, with
        shuffle, the order), deterministically. Call it before each epoch
        (DataLoader workers take the dataset as it is when iteration starts;
        with persistent_workers=True they keep the epoch they started with)."""
        self.epoch = check_int("epoch", epoch, 0)

    def indices(self):
        """The frame indices the calling process yields, in order (a DataLoader
        worker's share inside a worker): a range, or an array with shuffle."""
        rank, world = self._rank_world()
        info = get_worker_info()
        wid, nw = (info.id, info.num_workers) if info is not None else (0, 1)
        order = range(self._count())  # lazily: a stream may be endless in practice
        if self.shuffle:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(len(order))
        # this rank's share first (what len() counts, whatever num_workers), then
        # this loader worker's part of it
        return order[rank::world][wid::nw]

    def _count(self):
        return self._frames if isinstance(self._frames, int) else len(self._frames)

    def _rank_world(self):
        if self.shard is not None:
            return self.shard
        if self._dist is not None:
            return self._dist
        return _distributed()

    def __getstate__(self):
        # Sent to a DataLoader worker (spawn) or another process: take the rank
        # of the process group along; a spawned worker has no process group.
        state = self.__dict__.copy()
        state["_dist"] = self._rank_world()
        return state

    # -- rendering ---------------------------------------------------------------

    def _params(self, i):
        p = {} if isinstance(self._frames, int) else dict(self._frames[i])
        p.setdefault("seed", [self.seed, self.epoch])
        return p

    def __iter__(self):
        from ._renderer import Renderer
        idx = self.indices()
        if len(idx) == 0:
            return
        workers = min(self.workers, len(idx))
        # a batch held by the DataLoader until its collate, the frame being handed
        # over, and the frames each worker is given ahead: a worker never waits for
        # a slot while a batch fills
        ring = self.ring or math.ceil(self.batch_size / workers) + 1 + _core.RENDERER_INFLIGHT
        spare = workers * ring - workers  # frames kept beyond this are copied out
        with Renderer(self.scene, workers=workers, ring=ring, **self._render_kw) as r:
            for f in r.frames((self._params(int(i)) for i in idx), indices=idx):
                if r.held > spare:
                    f = f.copy()  # keep a slot free for every worker
                yield _item(f)
                del f


def _item(frame):
    item = {name: torch.from_numpy(a) for name, a in frame.items()}  # views, no copy
    item["index"] = int(frame.meta["index"])
    item["meta"] = Meta(frame.meta)
    return item


def _distributed():
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _check_shard(shard):
    try:
        rank, world = shard
    except (TypeError, ValueError):
        raise ValueError(f"shard must be (rank, world_size), not {shard!r}") from None
    world = check_int("shard's world_size", world, 1)
    rank = check_int("shard's rank", rank, 0)
    if rank >= world:
        raise ValueError(f"shard=({rank}, {world}): the rank must be < world_size")
    return rank, world


def detection_target(meta, masks=True):
    """One frame's labels as the target torchvision's detection models train on
    (Faster/Mask R-CNN, RetinaNet, ...): a dict of tensors

      "boxes"   (N, 4) float32, x1, y1, x2, y2 in pixels (the COCO box's corners)
      "labels"  (N,) int64, the category ids
      "masks"   (N, H, W) uint8, 0/1 (unless masks=False)
      "ids"     (N,) int64, the instances' Cryptomatte ids (stable per object)

    meta: a frame's metadata with its annotations (annotations=True): an item's
    "meta", one entry of a batch's list of them, or a Frame's meta. Instances
    without a category (null category_id: docs/labels.md) are left out, as
    the COCO export leaves them out; their categories start at 1 if class 0 is
    to be the background, which torchvision's models expect.
    """
    from . import labels
    ann = (meta or {}).get("annotations") if isinstance(meta, dict) else None
    if ann is None:
        raise ValueError("detection_target: no annotations in this meta: make the frames with "
                         "annotations=True")
    insts = [inst for inst in ann["instances"] if inst["category_id"] is not None]
    boxes = torch.tensor([[x, y, x + w, y + h] for x, y, w, h in (i["bbox"] for i in insts)],
                         dtype=torch.float32).reshape(-1, 4)
    out = {"boxes": boxes,
           "labels": torch.tensor([i["category_id"] for i in insts], dtype=torch.int64),
           "ids": torch.tensor([i["id"] for i in insts], dtype=torch.int64)}
    if masks:
        kept = dict(meta, annotations=dict(ann, instances=insts))  # only these decoded
        out["masks"] = torch.from_numpy(labels.masks({"meta": kept}).view(np.uint8))
    return out
