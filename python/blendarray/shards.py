"""blendarray.shards: frames written as WebDataset shards, resumable (docs/datasets.md).

    import blendarray as ba
    ba.write_shards(10_000, "out/shards", "scene.blend", workers=2, passes=["rgba", "depth"],
                    display=True, shard_size=1000, resume=True)
    urls = ba.shards.shard_urls("out/shards")   # webdataset.WebDataset(urls), ray.data.read_webdataset(urls)

A thin layer over libblendarray's shard writer (ba_shard_writer, through the
extension's _core.ShardWriter): the tar format, the index, the commit of each
shard and the checks of a resumed folder are C's. Here: the arguments, the
run's identity (what a resume must match), and the loop that renders only the
indices no complete shard holds.
"""
import itertools
import json
import operator
import os
import sys
import time
import zlib
from dataclasses import dataclass

from ._errors import BlendArrayError
from ._protocol import _plain
from ._settings import frame_params, integer_in, integer_words, takes_settings

__all__ = ["ShardWriter", "ShardsWritten", "shard_urls", "write_shards"]


def _count(name, value, low, high=None):
    n = integer_in(value, low, high)
    if n is None:
        raise BlendArrayError(f"{name} must be an integer {integer_words(low, high)}, "
                              f"got {value!r}")
    return n


def _json(obj, what):
    try:
        return json.dumps(obj, separators=(",", ":"), sort_keys=True, allow_nan=False,
                          default=_plain)
    except ValueError as e:  # NaN or infinity: JSON has neither
        raise BlendArrayError(f"{what} cannot be written as JSON ({e})") from None


class ShardWriter:
    """A dataset of WebDataset shards in the folder `dir` (docs/datasets.md).

        with ShardWriter("out/shards", shard_size=1000, resume=True) as w:
            for frame in r.frames(1000):
                if not w.done(frame.meta["index"]):
                    w.add(frame)

    Each sample: its arrays as <key>.<name>.npy (a '/' of the name as '.'),
    the display image as <key>.display.png, its metadata (less "worker" and
    the timings) as <key>.json; key: the index, 9 digits. A shard holds
    shard_size samples, or closes after the sample that brings it to
    shard_bytes (None: no byte limit); coco: a COCO file beside each shard.
    params: what identifies the run (a dict): stored in the folder, and a
    resume (resume=True) with other params, shard_size, shard_bytes or coco
    is refused, naming what differs. The `with` block finishes the dataset
    when it ends normally (the last, short shard is written); after an
    exception only the complete shards stay, and a resume goes on from them.
    """

    def __init__(self, dir, *, shard_size=1000, shard_bytes=None, coco=False, resume=False,
                 params=None):
        from ._renderer import load_core
        self.dir = os.fspath(dir)
        n = _count("shard_size", shard_size, 1, 2**31 - 1)
        b = 0 if shard_bytes is None else _count("shard_bytes", shard_bytes, 1, 2**63 - 1)
        if params is not None and not isinstance(params, dict):
            raise BlendArrayError(f"params must be a dict (what identifies the run), not "
                                  f"{params!r}")
        parent = os.path.dirname(os.path.abspath(self.dir))
        try:
            os.makedirs(parent, exist_ok=True)  # "out/shards" with no out/ yet, as CocoWriter
        except OSError as e:
            raise BlendArrayError(f"cannot make the folder {parent} for the shards {self.dir}: "
                                  f"{e.strerror}") from None
        self._c = load_core().ShardWriter(self.dir, _json(params or {}, "params"), n, b,
                                          bool(coco), bool(resume))

    def add(self, frame, index=None, meta=None):
        """One sample: `frame` (a Frame, or a mapping of name -> array), its index
        (default: meta["index"]) and metadata (default: frame.meta; a dict or JSON
        text). ValueError for an index done already or an array a shard cannot take."""
        if meta is None:
            meta = getattr(frame, "meta", None)
            if meta is None:
                raise TypeError("add: give the frame's metadata (meta=) for a plain mapping")
        if index is None:
            got = json.loads(meta) if isinstance(meta, (str, bytes)) else meta
            index = got.get("index") if isinstance(got, dict) else None
            if index is None:
                raise BlendArrayError("add: the frame's metadata has no \"index\": give index=")
        text = meta if isinstance(meta, str) else (
            meta.decode() if isinstance(meta, bytes) else _json(meta, "the frame's metadata"))
        self._writer().add(operator.index(index), frame, text)

    def done(self, index):
        """Whether a complete shard holds sample `index` (a resume renders the rest)."""
        return self._writer().done(operator.index(index))

    def finish(self):
        """Complete the last shard (short, when not full): the dataset is complete."""
        self._writer().finish()
        self.close()

    def close(self):
        """Stop: the shard being written is removed (its samples are not done),
        complete shards stay."""
        c, self._c = getattr(self, "_c", None), None
        if c is not None:
            self._counts = (c.samples_done, c.shards, c.shards_written, c.samples_pending)
            c.close()

    def _writer(self):
        if self._c is None:
            raise BlendArrayError(f"the ShardWriter of {self.dir} is closed")
        return self._c

    def _count(self, k):
        return getattr(self._c, _COUNTS[k]) if self._c is not None else self._counts[k]

    samples_done = property(lambda self: self._count(0),
                            doc="Samples in complete shards (found at open, and written).")
    shards = property(lambda self: self._count(1), doc="Complete shards in the folder.")
    shards_written = property(lambda self: self._count(2), doc="Shards this writer completed.")
    samples_pending = property(lambda self: self._count(3),
                               doc="Samples added that no complete shard holds yet.")

    def __enter__(self):
        return self

    def __exit__(self, et, ev, tb):
        try:
            if et is None and self._c is not None:
                self.finish()
        finally:
            self.close()

    def __del__(self):
        self.close()


_COUNTS = ("samples_done", "shards", "shards_written", "samples_pending")


@dataclass(frozen=True)
class ShardsWritten:
    """What write_shards() did: `samples_written` samples rendered and written
    into `shards_written` new shards of the dataset in `dir`, which holds
    `samples` samples in `shards` complete shards (`skipped`: indices a
    resume found done). `urls`: the complete shards' paths."""
    dir: str
    samples_written: int
    shards_written: int
    samples: int
    shards: int
    skipped: int

    @property
    def urls(self):
        return shard_urls(self.dir)


def shard_urls(dir):
    """The paths of the complete shards of the dataset in `dir`, in order, as its
    index (shards.jsonl) lists them: what webdataset.WebDataset or
    ray.data.read_webdataset take. A torn last line (a writer that died while
    appending it) is not a shard."""
    dir = os.fspath(dir)
    path = os.path.join(dir, "shards.jsonl")
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        if os.path.exists(os.path.join(dir, "dataset.json")):
            return []
        raise BlendArrayError(f"{dir} is not a blendarray shard folder (it has no dataset.json "
                              f"nor shards.jsonl)") from None
    lines = data.split(b"\n")[:-1]  # the part after the last newline: torn, not a line
    urls = []
    for n, line in enumerate(lines, 1):
        try:
            urls.append(os.path.join(dir, json.loads(line)["shard"]))
        except (ValueError, KeyError, TypeError):
            if n == len(lines):
                break  # torn: the writer's next resume cuts it away
            raise BlendArrayError(f"{path} line {n} is not an index line: the index is "
                                  f"damaged") from None
    return urls


# -- rendering into shards ------------------------------------------------------

def _renderer_identity(r):
    """What determines the frames `r` makes, as libblendarray says it
    (ba_renderer_identity, the command line's too): the scene (its path, size and
    crc32; None: the demo scene), the settings, the setup hook, the seed and the
    Blender version."""
    if r._c is None:
        raise BlendArrayError("the Renderer is closed")
    return json.loads(r._c.identity())


def _plan(frames, indices):
    """(count, make, plain): make() yields (index, params dict) for every frame of
    the run, as Renderer.frames() reads `frames` (an int N, frame numbers, dicts);
    plain: an int N and no indices (N renders of the scene as it is)."""
    import numpy as np
    if isinstance(frames, (int, np.integer)) and not isinstance(frames, bool):
        count = _count("frames", frames, 0)
        params = lambda: ({} for _ in range(count))  # noqa: E731
    else:
        items = list(frames)
        count = len(items)
        params = lambda: ({"frame": int(p)} if isinstance(p, (int, np.integer))  # noqa: E731
                          else dict(p) for p in items)
    if indices is None:
        index = lambda: iter(range(count))  # noqa: E731
    else:
        index_list = [operator.index(i) for i in indices]
        if len(index_list) != count:
            raise BlendArrayError(f"indices has {len(index_list)} entries for {count} frames")
        index = lambda: iter(index_list)  # noqa: E731
    plain = indices is None and isinstance(frames, (int, np.integer))
    return count, lambda: zip(index(), params()), plain


def _fingerprint(count, make, plain):
    """The frames' plan: how many, and the crc32 of each index with its params
    (not for N renders of the scene as it is: the count says it all)."""
    if plain:
        return {"count": count}
    crc = 0
    for i, p in make():
        crc = zlib.crc32(f"{i}\t{_json(frame_params(dict(p)), 'a frame params')}\n".encode(),
                         crc)
    return {"count": count, "crc32": crc}


class _Bar:
    """Progress on stderr: tqdm's bar when it is installed, else a line
    rewritten at most twice a second."""

    def __init__(self, total, dir):
        self.n, self.total, self.last = 0, total, 0.0
        try:
            from tqdm import tqdm
        except ImportError:
            self.bar = None
        else:
            self.bar = tqdm(total=total, unit="frame", desc=f"shards {os.path.basename(dir)}")

    def update(self, shards):
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix(shards=shards, refresh=False)
            self.bar.update(1)
        elif time.monotonic() - self.last > 0.5 or self.n == self.total:
            self.last = time.monotonic()
            sys.stderr.write(f"\r{self.n}/{self.total} frames, {shards} shards")
            sys.stderr.flush()

    def close(self):
        if self.bar is not None:
            self.bar.close()
        elif self.n:
            sys.stderr.write("\n")


def _show_progress(progress):
    if progress is None:  # the default: a bar for a person watching
        try:
            import tqdm  # noqa: F401
        except ImportError:
            return False
        return sys.stderr.isatty()
    return bool(progress)


def render_into(r, frames, dir, *, indices=None, shard_size=1000, shard_bytes=None,
                coco=False, resume=False, progress=None):
    """Renderer.write_shards (see there)."""
    count, make, plain = _plan(frames, indices)
    params = {"renderer": _renderer_identity(r), "plan": _fingerprint(count, make, plain)}
    with ShardWriter(dir, shard_size=shard_size, shard_bytes=shard_bytes, coco=coco,
                     resume=resume, params=params) as w:
        left = sum(1 for i, _ in make() if not w.done(i))
        # in order, the indices no complete shard holds (one frame at a time: an index
        # not rendered yet cannot become done meanwhile)
        todo_a, todo_b = itertools.tee((i, p) for i, p in make() if not w.done(i))
        bar = _Bar(left, w.dir) if _show_progress(progress) and left else None
        written = 0
        try:
            for frame in r.frames((p for _, p in todo_b), indices=(i for i, _ in todo_a)):
                w.add(frame)
                written += 1
                if bar is not None:
                    bar.update(w.shards)
        finally:
            if bar is not None:
                bar.close()
    return ShardsWritten(dir=w.dir, samples_written=written, shards_written=w.shards_written,
                         samples=w.samples_done, shards=w.shards, skipped=count - left)


@takes_settings
def write_shards(frames, dir, scene=None, *, workers=1, setup=None, seed=0, shard_size=1000,
                 shard_bytes=None, coco=False, resume=False, progress=None, indices=None,
                 blender=None, python=None, timeout=None, retries=1, verbose=False,
                 settings=None):
    """Render `frames` of `scene` into WebDataset shards in the folder `dir` and
    return a ShardsWritten: a Renderer(scene, workers, setup=, seed=, ...) and
    its write_shards(frames, dir, ...) in one call (see both).
    """
    from ._renderer import Renderer
    with Renderer(scene, workers, setup=setup, seed=seed, blender=blender, python=python,
                  timeout=timeout, retries=retries, verbose=verbose, settings=settings) as r:
        return r.write_shards(frames, dir, indices=indices, shard_size=shard_size,
                              shard_bytes=shard_bytes, coco=coco, resume=resume,
                              progress=progress)
