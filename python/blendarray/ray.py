"""blendarray.ray: rendered frames as a Ray Data dataset.

    import ray
    from blendarray.ray import read_renders

    ds = read_renders("scene.blend", frames=100_000, passes=["rgba", "depth"],
                      resolution=(128, 128), setup=randomize, seed=0)
    ds.write_parquet("out/")                 # or ds.write_numpy("out/", column="depth")
    ds.map(to_webdataset_row).write_webdataset("shards/", encoder=None)
    train = read_renders(..., columns=["rgba", "index"])
    for batch in train.iter_torch_batches(batch_size=64):
        batch["rgba"]                        # (64, 128, 128, 4) float32

One row per frame: a tensor column per pass (H, W[, C], as Frame's arrays),
"index" (int64: frame i of `frames`), "node" (the Ray node id of the actor
that rendered it), "host" (that node's hostname) and "meta" (the frame's
metadata as JSON text: json.loads(row["meta"])). JSON, because metadata holds
None, nested lists and whatever the hook returned, which Arrow would type block
by block: blocks whose hooks returned other types, or None where another had a
number, would not concatenate nor write to one Parquet schema. columns= keeps
some of these (iter_torch_batches takes no strings; select_columns would do
the same, but in tasks of its own). Rows arrive in no particular order (Ray
Data's default); sort by "index" where it matters.

How: Ray Data's actor-pool map_batches over blocks of frame indices, not a
custom Datasource. A Datasource's read tasks are plain tasks: each would start
Blender (seconds) for its frames (milliseconds), while each Ray actor keeps
one warm Renderer (`blender_workers` Blender processes) across batches of
`batch_size` frames. The pool brings what Ray Data does well:
streaming with back-pressure (a slow consumer pauses the actors), placement
by the resources each actor asks for (num_cpus, num_gpus, resources=), and
fault tolerance, Ray Data's defaults for actor pools (max_restarts=-1,
max_task_retries=-1):
- an actor that dies (killed, crashed, its node lost) is restarted, on
  another node if its own is gone, and its unfinished batches run again;
- a batch whose rows were lost with a node's object store before they were
  consumed is rendered again by lineage reconstruction (Ray re-runs the task).
Frame i is rendered with index i and rng default_rng([seed, i]) whichever
actor renders it, as often as it takes: every index appears exactly once, bit
for bit as in an undisturbed run, or in Renderer(...).frames() with the seed.
Each actor runs two batches at once, one rendering while the other's rows go
to Ray, so that Blender does not wait at every batch's end.

How many actors: actors=N pins the pool at N. Without it the pool fills the
cluster: Ray Data's autoscaling actor pool (min_size=1), whose max_size is what
the cluster's nodes hold of actors asking for num_cpus, num_gpus, memory and
resources= (counted per node, from each alive node's total resources when
read_renders is called; capped by the number of batches), and which starts at
that size (initial_size): every actor starts its Blender at once, and every
node renders from the first batches on. Started at 1, as Ray Data's default
pool is, it would grow only once its queue backs up, one start-up (seconds of
Blender) after another: a short read would end on the first node. The pool
still shrinks when its actors idle (a slow consumer), and grows again when
work waits. Nodes that join later are not counted: pass actors= for a
cluster that autoscales. When no node holds even one actor, the pool's size
is 1 (Ray starts it when such a node joins).

Rendering is lazy: it starts when the dataset is consumed. The blocks of
indices are made at the call, in the object store, so Ray starts then if it is
not running: call ray.init(address=...) first to use a cluster. Each actor
takes num_cpus logical CPUs (1 by default) whatever its Blenders use. The
default pool takes every CPU: Ray Data's own tasks (write_*, map,
select_columns, ...) then wait for the actors to finish; leave them some
(resources= that only render nodes have, or actors=). On a cluster every node
that runs render actors needs blendarray and a Blender: pip install
"/path/to/blendarray[bpy]" (a checkout, or the wheel you built) into the Python
Ray runs there (a Python bpy has wheels for), or apt-get install blender (a
runtime_env can do either); and the scene, and a 'file.py' hook, at the same
path on each (a shared filesystem), or a relative path in the working_dir of
runtime_env={"working_dir": ...}. A node without Blender fails the run with an
error that names the node and says what to install.

Needs Ray Data: pip install "/path/to/blendarray[ray]" (blendarray is not on
PyPI: a checkout's path, or the wheel you built).
"""
import inspect
import io
import json
import math
import os
import socket
import threading

try:
    import ray
    import ray.data
except ImportError as e:  # Ray is an optional extra
    from ._errors import missing_extra
    raise missing_extra("ray", "Ray Data", "'ray[data]' pydantic", "ray", e) from e

import numpy as np

from ._checks import check_frames, check_int
from ._errors import BlendArrayError, BlenderNotFoundError, SceneError
from ._hooks import make_spec
from ._renderer import _check_limit  # the Renderer's own checks, at the call: not in every actor
from ._settings import takes_settings
from . import _protocol

__all__ = ["read_renders", "to_webdataset_row"]

COLUMNS = ("index", "node", "host", "meta")  # beside one column per pass
# The metadata that to_webdataset_row leaves out of a sample's .json, as
# blendarray's shard writer does (src/shards.c, DROPPED_META): which worker
# rendered the frame and how long each step took, not functions of (seed, index).
DROPPED_META = ("worker", "render_seconds", "capture_seconds", "display_seconds",
                "annotation_seconds")
CHUNK_BYTES = 32 << 20  # rows handed to Ray Data at once, at most (a batch may be much larger)


@takes_settings
def read_renders(scene=None, frames=1, *, setup=None, seed=0, actors=None, blender_workers=1,
                 num_cpus=1, num_gpus=0, batch_size=None, blender=None, python=None,
                 timeout=None, retries=1, max_worker_frames=None, max_worker_memory=None,
                 columns=None, resources=None, runtime_env=None, memory=None, settings=None):
    """A lazy ray.data.Dataset of rendered frames, one row per frame.

    scene: a .blend file (None: blendarray's demo scene), at this path on
      every node that renders (see the module's docstring).
    frames: an int N (N renders of the scene as it is, randomized by the
      hook: indices 0..N-1), animation frame numbers (e.g. range(1, 251)), or
      dicts of per-frame params (as Renderer.frames takes them); frame i's
      index is i.
    blender, python, timeout, retries, max_worker_frames, max_worker_memory:
      as blendarray.Renderer takes them (each actor's Renderer; the memory
      limit is per Blender process, and its automatic default, half the
      machine's memory, does not know of the node's other actors: give it
      where several share a node); blender/python are looked up on each
      node. annotations=True: the labels in the meta column's JSON.
    setup: the hook run in Blender before each frame (scene, index, rng[,
      params]) -> dict merged into meta. Described here, so a hook that cannot
      be sent fails now, before anything renders.
    seed: the hook's rng is numpy.random.default_rng([seed, index]), as
      Renderer's (a per-frame "seed" param replaces it for that frame).
    actors: render actors (each one Renderer). None (the default): as many
      as the cluster's nodes hold, each asking for num_cpus, num_gpus, memory
      and resources (Ray Data's autoscaling pool, started at that size; see
      the module's docstring); N: exactly N. blender_workers: Blender
      processes per actor (with several on a node, share its cores: threads=).
    num_cpus, num_gpus, memory, resources (custom resources, e.g. {"render":
      1}), runtime_env: what each actor asks Ray for (Cycles on a GPU:
      num_gpus=1).
    batch_size: frames per actor task. Larger batches amortize Ray's cost per
      task (tens of milliseconds); smaller ones spread a short run over every
      actor, stream sooner, and cost less to render again when an actor is
      lost. Default: 4 batches per actor at least (actors=, or the most the
      cluster holds), at most 256 frames. Memory does not grow with it: an
      actor hands its rows to Ray Data in chunks of 32 MiB at most.
    columns: the columns to make (default: every pass, index, node, host,
      meta); leave out the strings for iter_torch_batches.
    """
    table = check_frames(frames)
    n, table = (table, None) if isinstance(table, int) else (len(table), table)
    if actors is not None:
        actors = check_int("actors", actors, 1)
    blender_workers = check_int("blender_workers", blender_workers, 1)
    seed = check_int("seed", seed, 0)
    retries = check_int("retries", retries, 0)
    if resources is not None and not isinstance(resources, dict):
        raise ValueError(f"resources must be a dict of Ray custom resources (e.g. "
                         f"{{'render': 1}}), not {resources!r}")
    for name, v in (("num_cpus", num_cpus), ("num_gpus", num_gpus),
                    *((("memory", memory),) if memory is not None else ()),
                    *((f"resources[{k!r}]", v) for k, v in (resources or {}).items())):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or v < 0:
            raise ValueError(f"{name} must be a number >= 0, not {v!r}")
    recycle = dict(max_worker_frames=_check_limit("max_worker_frames", max_worker_frames, 0),
                   max_worker_memory=_check_limit("max_worker_memory", max_worker_memory, -1))
    if batch_size is not None:
        batch_size = check_int("batch_size", batch_size, 1)
    if timeout is not None and (isinstance(timeout, bool) or
                                not isinstance(timeout, (int, float)) or timeout <= 0):
        raise ValueError(f"timeout must be a number of seconds > 0 or None, not {timeout!r}")
    passes = settings.passes
    for p in passes or ():
        if p in COLUMNS:
            raise ValueError(f"pass {p!r} would clash with the dataset's column {p!r}")
    columns = _check_columns(columns, passes)
    options = {k: v for k, v in (("resources", resources), ("runtime_env", runtime_env),
                                 ("memory", memory)) if v is not None}
    kw = dict(settings=settings, setup=make_spec(setup), seed=seed, retries=retries,
              blender=blender, python=python, timeout=timeout, **recycle)
    actor_kw = dict(scene=_scene(scene), workers=blender_workers, render_kw=kw, columns=columns)
    # Every argument checked: Ray's turn. Without actors=, the pool's most is
    # what the cluster holds (Ray starts now if it is not running, as it would
    # below for the blocks).
    most = actors or _capacity(num_cpus, num_gpus, memory, resources)
    if batch_size is None:
        batch_size = max(1, min(256, math.ceil(n / (max(most, 1) * 4))))
    # The blocks of indices are made here, one per actor task, and put in the
    # object store (Ray starts now if it is not running). Read tasks would
    # trickle them out a few a second, each asking for a CPU the actors may
    # all hold (ray.data.range's), or for a Ray worker process of its own.
    blocks = [_index_block(start, min(batch_size, n - start), table)
              for start in range(0, n, batch_size)]
    ds = ray.data.from_arrow(blocks or [_index_block(0, 0, table)])
    return ds.map_batches(
        _RenderActor, batch_size=batch_size, batch_format="numpy",
        compute=_pool(actors, max(1, min(most, len(blocks)))), num_cpus=num_cpus,
        num_gpus=num_gpus, fn_constructor_kwargs=actor_kw, **options)


def to_webdataset_row(row):
    """A row of read_renders as a WebDataset sample, for Dataset.map before
    write_webdataset(path, encoder=None):

        ds = read_renders(..., display=True)
        ds.map(to_webdataset_row).write_webdataset("shards/", encoder=None)

    Each sample's tar members: "<key>.<pass>.npy" per pass (the array exactly,
    numpy's .npy format; a '/' in a pass name becomes '.'), "<key>.display.png"
    (the display image, uint8 RGBA; Pillow encodes it, lossless) and
    "<key>.json" (the meta column's metadata; without that column, the
    index alone); key is the index, zero-padded to 9 digits (000000042). The webdataset package (.decode()) and
    ray.data.read_webdataset read them with no blendarray code. As in
    blendarray's own shard writer's samples, what says where or how fast a
    frame was rendered is left out (the node and host columns; the metadata's
    DROPPED_META): the shards hold what the seed and the index make.

    The values are the members' bytes, made here: write them with
    encoder=None. (Ray's default encoder picks an encoding by each member's
    extension, and would encode these bytes again: numpy would save them as
    an array of bytes. Every sample has a json member, on which a forgotten
    encoder=None fails instead: JSON cannot encode bytes.) Ray writes each file where it ends, with no
    temporary name, keeps no index of what is done and cannot resume: for that,
    blendarray's shard writer (docs/datasets.md)."""
    if "index" not in row:
        raise BlendArrayError(f"to_webdataset_row needs the row's index column (the sample's "
                              f"key); this row has {', '.join(row)}: keep index in columns=")
    out = {"__key__": f"{int(row['index']):09d}"}
    for k, v in row.items():
        if k in COLUMNS:
            continue
        a = np.asarray(v)
        if k == "display":
            out["display.png"] = _png(a)
        else:
            buf = io.BytesIO()
            np.save(buf, a, allow_pickle=False)
            out[k.replace("/", ".") + ".npy"] = buf.getvalue()
    meta = json.loads(row["meta"]) if "meta" in row else {"index": int(row["index"])}
    for k in DROPPED_META:
        meta.pop(k, None)
    out["json"] = json.dumps(meta).encode()
    return out


def _png(a):
    try:
        from PIL import Image
    except ImportError as e:
        raise ImportError(f"to_webdataset_row encodes the display image as PNG with Pillow, "
                          f"which cannot be imported ({e}): pip install Pillow (the readers of "
                          f".png members, webdataset's and Ray's, need it too)") from None
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] != 4:
        raise BlendArrayError(f"the display column holds {a.dtype} {a.shape}, not uint8 "
                              f"(H, W, 4): no display image to write as PNG")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a)).save(buf, format="PNG")  # (H, W, 4) uint8: RGBA
    return buf.getvalue()


def _index_block(start, k, table):
    """Frame indices ("id") and, when `frames` gave them, each frame's params
    ("params", JSON text)."""
    import pyarrow as pa
    cols = {"id": np.arange(start, start + k, dtype=np.int64)}
    if table is not None:
        cols["params"] = pa.array([_protocol.dumps(p) for p in table[start:start + k]],
                                  pa.string())
    return pa.table(cols)


class _RenderActor:
    """One Ray actor: a warm Renderer, and map_batches' function (indices -> rows)."""

    def __init__(self, scene, workers, render_kw, columns):
        from ._renderer import Renderer
        self.columns = columns
        self.turn = threading.Lock()
        self.node = ray.get_runtime_context().get_node_id()
        self.host = socket.gethostname()
        path = None
        if scene is not None:
            # relative: the actor's working directory (runtime_env), else the driver's
            path = scene[0] if os.path.exists(scene[0]) else scene[1]
        try:
            self.r = Renderer(path, workers=workers, **render_kw)
        except BlenderNotFoundError as e:
            raise BlenderNotFoundError(
                f"Ray node {self.node} ({self.host}, {_ip()}) has no Blender: {e}; every node "
                f"that runs render actors needs one (pip install bpy there, into the Python "
                f"Ray runs, or apt-get install blender)") from None
        except BlendArrayError as e:
            e.args = (f"on Ray node {self.node} ({self.host}, {_ip()}): {e.args[0]}",) + e.args[1:]
            raise

    def __call__(self, batch):
        ids = batch["id"]
        if "params" in batch:
            params = [json.loads(p) for p in batch["params"]]
        else:
            params = [{} for _ in ids]
        out, left = None, len(ids)
        meta, index, rows = [], [], 0  # the chunk being filled: made at its first frame
        with self.turn:  # one batch renders at a time; the next starts while this one ships
            for f in self.r.frames(params, indices=ids):
                arrays = self._arrays(f)
                if out is not None and (len(index) == rows or not _fits(out, arrays)):
                    yield self._rows(out, meta, index)  # chunk full, or frames of a new layout
                    out = None
                if out is None:  # a chunk: one array per pass, each frame copied in once
                    size = sum(a.nbytes for a in arrays.values()) or 1
                    rows = max(1, min(left, CHUNK_BYTES // size))
                    out = {k: np.empty((rows,) + a.shape, a.dtype) for k, a in arrays.items()}
                    meta, index = [], []
                j = len(index)
                for k, a in arrays.items():
                    out[k][j] = a
                meta.append(_protocol.dumps(f.meta))
                index.append(f.meta["index"])
                left -= 1
                del arrays
                f.release()  # its ring slot goes back to Blender now
                del f
        if out is not None:
            yield self._rows(out, meta, index)

    def _arrays(self, frame):
        """The frame's arrays that make columns."""
        if self.columns is None:
            return dict(frame)
        missing = self.columns - set(frame) - set(COLUMNS)
        if missing:
            raise BlendArrayError(f"columns= names {', '.join(sorted(missing))}, which is neither "
                                  f"a pass of these frames ({', '.join(frame)}) nor one of "
                                  f"{', '.join(COLUMNS)}")
        return {k: a for k, a in frame.items() if k in self.columns}

    def _rows(self, out, meta, index):
        n = len(index)
        rows = {k: a[:n] for k, a in out.items()}
        extra = {"index": lambda: np.array(index, dtype=np.int64),
                 "node": lambda: np.full(n, self.node), "host": lambda: np.full(n, self.host),
                 "meta": lambda: np.array(meta)}
        for k, make in extra.items():
            if self.columns is None or k in self.columns:
                rows[k] = make()
        return rows

    def __del__(self):
        r = getattr(self, "r", None)
        if r is not None:
            r.close()


def _pool(actors, most):
    """A fixed pool of `actors`, or (None) an autoscaling one of 1 to `most`
    actors that starts at `most` (the module's docstring says why). Each actor
    runs two batches at once: one renders while the other's rows are handed to
    Ray (else Blender idles at every batch's end, for as long as Ray takes to
    store the rows and start the next batch). An older Ray, without these
    options, runs one batch at a time, and (without initial_size) a pool of
    `most` that does not shrink."""
    pool = ray.data.ActorPoolStrategy
    params = set(inspect.signature(pool).parameters)
    if actors is not None:
        kw = dict(size=actors)
    elif "initial_size" in params:
        kw = dict(min_size=1, max_size=most, initial_size=most)
    else:
        kw = dict(size=most)
    if {"max_concurrent_calls_per_actor", "enable_true_multi_threading"} <= params:
        kw.update(max_concurrent_calls_per_actor=2, enable_true_multi_threading=True)
    return pool(**kw)


def _capacity(num_cpus, num_gpus, memory, resources):
    """How many actors asking for these the cluster's alive nodes hold, counted
    node by node (an actor does not span nodes), from each node's total
    resources: what runs there now does not count (its actors wait their turn).
    An actor that asks for nothing counts as one per logical CPU."""
    ask = {"CPU": num_cpus, "GPU": num_gpus, "memory": memory, **(resources or {})}
    ask = {k: float(v) for k, v in ask.items() if v}
    if not ask:
        ask = {"CPU": 1.0}
    total = 0
    for node in ray.nodes():
        if node.get("Alive"):
            have = node.get("Resources") or {}
            total += min(int(have.get(k, 0) / v + 1e-9) for k, v in ask.items())
    return total


def _fits(out, arrays):
    if out.keys() != arrays.keys():
        return False
    return all(out[k].shape[1:] == a.shape and out[k].dtype == a.dtype for k, a in arrays.items())


def _check_columns(columns, passes):
    """None (every column), or the set of names to keep."""
    if columns is None:
        return None
    if isinstance(columns, str):
        columns = [columns]
    columns = list(columns)
    for c in columns:
        if not isinstance(c, str) or not c:
            raise ValueError(f"columns holds {c!r}: give column names (passes, "
                             f"{', '.join(COLUMNS)})")
        if passes is not None and c not in passes and c not in COLUMNS:
            raise ValueError(f"columns names {c!r}, which is neither one of passes "
                             f"({', '.join(passes)}) nor one of {', '.join(COLUMNS)}")
    if not columns:
        raise ValueError("columns=[] would make rows with no column")
    return set(columns)


def _ip():
    try:
        return ray.util.get_node_ip_address()
    except Exception:
        return "?"


def _scene(scene):
    """(as given, absolute here): a relative path is looked up where the actor
    runs first (its runtime_env working_dir), then as this process sees it."""
    if scene is None:
        return None
    if isinstance(scene, bytes) or not isinstance(scene, (str, os.PathLike)):
        raise SceneError(f"scene must be a path to a .blend file or None, not {scene!r}")
    path = os.fspath(scene)
    if os.path.exists(path):
        from ._checks import check_scene
        check_scene(path)  # here now, where it can be read: the errors of a local run
    return path, os.path.abspath(path)
