"""blendarray.ray: rendered frames as a Ray Data dataset.

    import ray
    from blendarray.ray import read_renders

    ds = read_renders("scene.blend", frames=100_000, passes=["rgba", "depth"],
                      resolution=(128, 128), setup=randomize, seed=0, actors=8)
    ds.write_parquet("out/")                 # or ds.write_numpy("out/", column="depth")
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
Blender (seconds) for its frames (milliseconds), while each of `actors` Ray
actors keeps one warm Renderer (`blender_workers` Blender processes) across
batches of `batch_size` frames. The pool brings what Ray Data does well:
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

Rendering is lazy: it starts when the dataset is consumed. The blocks of
indices are made at the call, in the object store, so Ray starts then if it is
not running: call ray.init(address=...) first to use a cluster. Each actor
takes num_cpus logical CPUs (1 by default) whatever its Blenders use; leave
some free for Ray Data's own tasks (write_*, select_columns, ...), or they
wait for the actors to finish. On a cluster every node that runs render actors
needs blendarray and a Blender: pip install "/path/to/blendarray[bpy]" (a
checkout, or the wheel you built) into the Python Ray runs there (a Python bpy
has wheels for), or apt-get install blender (a runtime_env can do either); and
the scene, and a 'file.py' hook, at the same path on each (a shared
filesystem), or a relative path in the working_dir of runtime_env={"working_dir":
...}. A node without Blender fails the run with an error that names the node
and says what to install.

Needs Ray Data: pip install "/path/to/blendarray[ray]" (blendarray is not on
PyPI: a checkout's path, or the wheel you built).
"""
import inspect
import json
import math
import os
import socket
import threading

try:
    import ray
    import ray.data
except ImportError as e:  # Ray is an optional extra
    raise ImportError(f"blendarray.ray needs Ray Data, which cannot be imported ({e}); install "
                      f"it: pip install 'ray[data]' pydantic, or reinstall blendarray with the extra: "
                      f"pip install \"/path/to/blendarray[ray]\" (a checkout)") from e

import numpy as np

from ._checks import check_frames, check_int
from ._errors import BlendArrayError, BlenderNotFoundError, SceneError
from ._hooks import make_spec
from ._settings import takes_settings
from . import _protocol

__all__ = ["read_renders"]

COLUMNS = ("index", "node", "host", "meta")  # beside one column per pass
CHUNK_BYTES = 32 << 20  # rows handed to Ray Data at once, at most (a batch may be much larger)


@takes_settings
def read_renders(scene=None, frames=1, *, setup=None, seed=0, actors=1, blender_workers=1,
                 num_cpus=1, num_gpus=0, batch_size=None, blender=None, python=None,
                 timeout=None, retries=1, columns=None, resources=None, runtime_env=None,
                 memory=None, settings=None):
    """A lazy ray.data.Dataset of rendered frames, one row per frame.

    scene: a .blend file (None: blendarray's demo scene), at this path on
      every node that renders (see the module's docstring).
    frames: an int N (N renders of the scene as it is, randomized by the
      hook: indices 0..N-1), animation frame numbers (e.g. range(1, 251)), or
      dicts of per-frame params (as Renderer.frames takes them); frame i's
      index is i.
    blender, python, timeout, retries: as blendarray.Renderer takes them;
      blender/python are looked up on each node. annotations=True: the labels
      in the meta column's JSON.
    setup: the hook run in Blender before each frame (scene, index, rng[,
      params]) -> dict merged into meta. Described here, so a hook that cannot
      be sent fails now, before anything renders.
    seed: the hook's rng is numpy.random.default_rng([seed, index]), as
      Renderer's (a per-frame "seed" param replaces it for that frame).
    actors: render actors (each one Renderer). blender_workers: Blender
      processes per actor (with several on a node, share its cores: threads=).
    num_cpus, num_gpus, memory, resources (custom resources, e.g. {"render":
      1}), runtime_env: what each actor asks Ray for (Cycles on a GPU:
      num_gpus=1).
    batch_size: frames per actor task. Larger batches amortize Ray's cost per
      task (tens of milliseconds); smaller ones spread a short run over every
      actor, stream sooner, and cost less to render again when an actor is
      lost. Default: 4 batches per actor at least, at most 256 frames. Memory
      does not grow with it: an actor hands its rows to Ray Data in chunks of
      32 MiB at most.
    columns: the columns to make (default: every pass, index, node, host,
      meta); leave out the strings for iter_torch_batches.
    """
    table = check_frames(frames)
    n, table = (table, None) if isinstance(table, int) else (len(table), table)
    actors = check_int("actors", actors, 1)
    blender_workers = check_int("blender_workers", blender_workers, 1)
    seed = check_int("seed", seed, 0)
    retries = check_int("retries", retries, 0)
    for name, v in (("num_cpus", num_cpus), ("num_gpus", num_gpus)):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) or v < 0:
            raise ValueError(f"{name} must be a number >= 0, not {v!r}")
    if batch_size is None:
        batch_size = max(1, min(256, math.ceil(n / (actors * 4))))
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
              blender=blender, python=python, timeout=timeout)
    # The blocks of indices are made here, one per actor task, and put in the
    # object store (Ray starts now if it is not running). Read tasks would
    # trickle them out a few a second, each asking for a CPU the actors may
    # all hold (ray.data.range's), or for a Ray worker process of its own.
    blocks = [_index_block(start, min(batch_size, n - start), table)
              for start in range(0, n, batch_size)]
    ds = ray.data.from_arrow(blocks or [_index_block(0, 0, table)])
    return ds.map_batches(
        _RenderActor, batch_size=batch_size, batch_format="numpy",
        compute=_pool(actors), num_cpus=num_cpus, num_gpus=num_gpus,
        fn_constructor_kwargs=dict(scene=_scene(scene), workers=blender_workers, render_kw=kw,
                                   columns=columns),
        **options)


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


def _pool(actors):
    """A fixed pool of `actors`, each running two batches at once: one renders
    while the other's rows are handed to Ray (else Blender idles at every batch's
    end, for as long as Ray takes to store the rows and start the next batch).
    An older Ray, without these options, runs one batch at a time."""
    pool = ray.data.ActorPoolStrategy
    if {"max_concurrent_calls_per_actor", "enable_true_multi_threading"} <= set(
            inspect.signature(pool).parameters):
        return pool(size=actors, max_concurrent_calls_per_actor=2,
                    enable_true_multi_threading=True)
    return pool(size=actors)


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
