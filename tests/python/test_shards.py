"""blendarray's shard writer (blendarray.shards, libblendarray's ba_shard_writer),
read back with readers that share nothing with it:

- the webdataset package (.decode()) and Python's tarfile with numpy.load and
  Pillow: every array bit for bit the frame Renderer.frames() gave in memory,
  the display PNG equal to frame["display"], the JSON member the frame's
  metadata less what is not a function of (seed, index);
- pycocotools: each shard's COCO file, its masks against Blender's own
  object-index pass (as tests/python/test_coco.py);
- ray.data.read_webdataset (slow: a local Ray);
- resume: an interrupted run, resumed, gives every file byte for byte as an
  uninterrupted one; and the refusals (a torn index line, a truncated shard,
  changed parameters, a folder that is not a dataset, a second writer).
"""
import io
import json
import os
import tarfile
import zlib

import numpy as np
import pytest
from PIL import Image

import blendarray as ba
from blendarray import shards
from blendarray.shards import ShardWriter, shard_urls

# the metadata keys a shard leaves out (docs/datasets.md): not a function of (seed, index)
SHARD_DROPS = {"worker", "render_seconds", "capture_seconds", "display_seconds",
               "annotation_seconds"}
FRAMES = [1, 5, 9, 13, 17, 21, 25]  # the demo cube turns: each frame its own image
WB = dict(passes=["rgba", "depth"], display=True, engine="WORKBENCH", resolution=(64, 64))


def files_of(d):
    """{name: bytes} of every file in folder d."""
    return {n: open(os.path.join(d, n), "rb").read() for n in sorted(os.listdir(d))}


def temporaries(d):
    return [n for n in os.listdir(d) if n.startswith(".") and n != ".lock"]


def read_tar(path):
    """[(key, {suffix: value})] of a shard, in member order, read with tarfile:
    .npy by numpy.load, .png by Pillow (RGBA), .json by json."""
    samples = []
    with tarfile.open(path) as t:
        for m in t.getmembers():
            assert m.isfile() and m.mtime == 0 and m.mode == 0o644 and m.uid == m.gid == 0
            key, _, suffix = m.name.partition(".")
            data = t.extractfile(m).read()
            if suffix.endswith(".npy"):
                value = np.load(io.BytesIO(data), allow_pickle=False)
            elif suffix.endswith(".png"):
                value = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"))
            else:
                value = json.loads(data)
            if not samples or samples[-1][0] != key:
                samples.append((key, {}))
            samples[-1][1][suffix] = value
    return samples


def same_array(a, b):
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def kept(meta):
    return {k: v for k, v in meta.items() if k not in SHARD_DROPS}


# -- without Blender: synthetic frames ---------------------------------------------

def synthetic(i, h=6, w=5):
    """Frame i: every dtype a shard takes, a layer pass, the display image."""
    rng = np.random.default_rng(i)
    arrays = {
        "rgba": rng.random((h, w, 4), dtype=np.float32),
        "Layer/depth": rng.random((h, w), dtype=np.float32),
        "half": rng.random((h, w, 3)).astype(np.float16),
        "ids": rng.integers(-5, 5, (h, w), dtype=np.int32),
        "u16": rng.integers(0, 65535, (h, w), dtype=np.uint16),
        "hash": rng.integers(0, 2**32, (h, w), dtype=np.uint32),
        "display": rng.integers(0, 256, (h, w, 4), dtype=np.uint8),
    }
    meta = {"index": i, "frame": i + 1, "worker": i % 2, "render_seconds": 0.1 * i,
            "capture_seconds": 0.5, "display_seconds": 0.25, "K": [[1.5, 0.0, 2.0]],
            "note": "ünïcode", "warnings": []}
    return ba.Frame(arrays, meta)


def write(d, n, first=0, **kw):
    with ShardWriter(d, **kw) as w:
        for i in range(first, first + n):
            w.add(synthetic(i))
    return w


def test_synthetic_samples_read_back_exactly(tmp_path):
    d = tmp_path / "set"
    w = write(d, 5, shard_size=2, params={"seed": 3})
    assert (w.shards, w.shards_written, w.samples_done, w.samples_pending) == (3, 3, 5, 0)
    urls = shard_urls(d)
    assert urls == [os.path.join(str(d), f"shard-{k:06d}.tar") for k in range(3)]
    order = ["rgba.npy", "Layer.depth.npy", "half.npy", "ids.npy", "u16.npy", "hash.npy",
             "display.png", "json"]
    seen = []
    for url in urls:
        for key, sample in read_tar(url):
            i = int(key)
            assert key == f"{i:09d}" and list(sample) == order
            f = synthetic(i)
            for name, a in f.items():
                got = sample["display.png" if name == "display" else name.replace("/", ".") + ".npy"]
                assert same_array(got, a), (i, name)
            assert sample["json"] == kept(f.meta)
            seen.append(i)
    assert seen == list(range(5))
    # the webdataset package, on its own: keys, arrays, PNG and JSON decoded by it
    import webdataset as wds
    got = {}
    for s in wds.WebDataset(urls, shardshuffle=False).decode("rgb8"):
        got[int(s["__key__"])] = s
    assert sorted(got) == list(range(5))
    for i, s in got.items():
        f = synthetic(i)
        assert same_array(s["layer.depth.npy"], f["Layer/depth"])  # webdataset lower-cases
        assert same_array(s["hash.npy"], f["hash"]) and same_array(s["half.npy"], f["half"])
        assert np.array_equal(s["display.png"], f["display"][..., :3])
        assert s["json"] == kept(f.meta)
    # the index: each line's size and crc32 are the file's
    lines = [json.loads(x) for x in (d / "shards.jsonl").read_text().splitlines()]
    assert [x["indices"] for x in lines] == [[[0, 2]], [[2, 4]], [[4, 5]]]
    for x, url in zip(lines, urls):
        data = open(url, "rb").read()
        assert x["bytes"] == len(data) and x["crc32"] == zlib.crc32(data) and "coco" not in x
    ds = json.loads((d / "dataset.json").read_text())
    assert ds == {"format": "blendarray-shards", "version": 1, "params": {"seed": 3},
                  "shard_samples": 2, "shard_bytes": 0, "coco": False,
                  "blendarray": ba.__version__}
    assert temporaries(d) == []


def sample_sizes(d):
    """Each sample's bytes in the tar (headers, data, padding), from tarfile's offsets."""
    sizes = {}
    for url in shard_urls(d):
        with tarfile.open(url) as t:
            for m in t.getmembers():
                k = int(m.name.partition(".")[0])
                sizes[k] = sizes.get(k, 0) + 512 + (m.size + 511) // 512 * 512
    return sizes


@pytest.mark.parametrize("delta, per_shard", [(-1, 2), (0, 2), (1, 3)])
def test_byte_limit_on_both_sides(tmp_path, delta, per_shard):
    """A shard closes after the sample that brings its members to shard_bytes or more."""
    write(tmp_path / "one", 6, shard_size=1000)
    sizes = sample_sizes(tmp_path / "one")
    limit = sizes[0] + sizes[1] + delta  # the first two samples' bytes, and one either side
    d = tmp_path / "set"
    write(d, 6, shard_size=1000, shard_bytes=limit)
    counts = [len({m.name.partition(".")[0] for m in tarfile.open(u).getmembers()})
              for u in shard_urls(d)]
    assert counts[0] == per_shard
    for u, k in zip(shard_urls(d), counts):  # every full shard reached the limit
        members = sum(sizes[int(m.name[:9])] for m in tarfile.open(u).getmembers()
                      if m.name.endswith(".json"))
        assert members >= limit or u == shard_urls(d)[-1]
        assert os.path.getsize(u) == members + 1024  # and the two zero blocks at the end
    assert sum(counts) == 6


def test_resume_after_an_interrupted_writer_is_byte_identical(tmp_path):
    write(tmp_path / "whole", 7, shard_size=3, params={"seed": 1})
    d = tmp_path / "cut"
    with pytest.raises(RuntimeError):
        with ShardWriter(d, shard_size=3, params={"seed": 1}) as w:
            for i in range(7):
                if i == 4:
                    raise RuntimeError("interrupted")  # shard 0 complete, shard 1 half-written
                w.add(synthetic(i))
    assert sorted(os.listdir(d)) == [".lock", "dataset.json", "shard-000000.tar", "shards.jsonl"]
    with ShardWriter(d, shard_size=3, params={"seed": 1}, resume=True) as w:
        assert [w.done(i) for i in range(5)] == [True, True, True, False, False]
        assert (w.samples_done, w.shards) == (3, 1)
        for i in range(7):
            if not w.done(i):
                w.add(synthetic(i))
        with pytest.raises(ValueError, match="index 1 is in shard-000000.tar already"):
            w.add(synthetic(1))
    assert w.shards_written == 2
    assert files_of(d) == files_of(tmp_path / "whole")


def test_torn_index_line_and_truncated_shard(tmp_path):
    d = tmp_path / "set"
    write(d, 5, shard_size=2, params={"seed": 1})
    index = (d / "shards.jsonl").read_bytes()
    with open(d / "shards.jsonl", "ab") as f:
        f.write(b'{"shard": "shard-000003.tar", "sam')  # a writer died while appending it
    assert len(shard_urls(d)) == 3
    with ShardWriter(d, shard_size=2, params={"seed": 1}, resume=True) as w:
        assert w.samples_done == 5
    assert (d / "shards.jsonl").read_bytes() == index  # cut away
    path = d / "shard-000001.tar"
    size = path.stat().st_size
    os.truncate(path, size - 512)
    with pytest.raises(ba.BlendArrayError, match=rf"shard-000001.tar is truncated "
                       rf"\({size - 512} of {size} bytes\): the dataset is damaged; remove it "
                       r"and the lines after it from shards.jsonl"):
        ShardWriter(d, shard_size=2, params={"seed": 1}, resume=True)
    assert path.stat().st_size == size - 512 and (d / "shards.jsonl").read_bytes() == index


def test_refusals_say_what_to_do(tmp_path):
    d = tmp_path / "set"
    write(d, 3, shard_size=2, params={"seed": 1, "settings": {"resolution": [64, 64]}})
    before = files_of(d)
    with pytest.raises(ba.BlendArrayError, match=r"holds a blendarray dataset \(2 complete "
                       r"shards, 3 samples\): pass --resume / resume=True to continue it"):
        ShardWriter(d, shard_size=2, params={"seed": 1})
    with pytest.raises(ba.BlendArrayError, match="cannot resume: the folder's dataset .* was "
                       "made with seed 1, this run has seed 2"):
        ShardWriter(d, shard_size=2, params={"seed": 2, "settings": {"resolution": [64, 64]}},
                    resume=True)
    with pytest.raises(ba.BlendArrayError, match=r"made with settings.resolution \[64,64\], "
                       r"this run has settings.resolution \[32,32\]"):
        ShardWriter(d, shard_size=2, params={"seed": 1, "settings": {"resolution": [32, 32]}},
                    resume=True)
    with pytest.raises(ba.BlendArrayError, match="has shards of 2 samples, this run asks for 3"):
        ShardWriter(d, shard_size=3, params={"seed": 1, "settings": {"resolution": [64, 64]}},
                    resume=True)
    assert files_of(d) == before
    # a second writer while the first lives
    first = ShardWriter(d, shard_size=2, params={"seed": 1, "settings": {"resolution": [64, 64]}},
                        resume=True)
    with pytest.raises(ba.BlendArrayError, match="another process is writing this dataset"):
        ShardWriter(d, shard_size=2, params={"seed": 1, "settings": {"resolution": [64, 64]}},
                    resume=True)
    first.close()
    # a folder that is not a dataset, untouched
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ba.BlendArrayError, match="holds files but no dataset.json: not a "
                       "blendarray shard folder; choose a new or empty folder"):
        ShardWriter(other)
    assert os.listdir(other) == ["notes.txt"]
    with pytest.raises(ba.BlendArrayError, match="not a blendarray shard folder"):
        shard_urls(other)
    # the caller's mistakes: the writer goes on
    with ShardWriter(tmp_path / "new") as w:
        with pytest.raises(ValueError, match="index -1"):
            w.add(synthetic(0), index=-1)
        bad = ba.Frame({"a": np.zeros(3, np.float64)}, {"index": 0})
        with pytest.raises(TypeError, match="element format 'd'"):
            w.add(bad)
        with pytest.raises(ValueError, match="make the same member"):
            w.add(ba.Frame({"Depth": np.zeros(3, np.float32), "depth": np.zeros(3, np.float32)},
                           {"index": 0}))
        with pytest.raises(ba.BlendArrayError, match="cannot be written as JSON"):
            w.add(synthetic(0), meta={"index": 0, "x": float("nan")})
        w.add(synthetic(0))
    assert w.samples_done == 1
    with pytest.raises(ba.BlendArrayError, match="shard_size must be an integer from 1"):
        ShardWriter(tmp_path / "x", shard_size=0)


@pytest.mark.slow
def test_ray_reads_the_shards(tmp_path):
    """ray.data.read_webdataset, on its own, reads every sample back exactly."""
    ray = pytest.importorskip("ray")
    d = tmp_path / "set"
    write(d, 5, shard_size=2)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        rows = ray.data.read_webdataset(shard_urls(d)).take_all()
    finally:
        ray.shutdown()
    assert sorted(int(r["__key__"]) for r in rows) == list(range(5))
    for r in rows:
        f = synthetic(int(r["__key__"]))
        assert same_array(np.asarray(r["Layer.depth.npy"]), f["Layer/depth"])
        assert same_array(np.asarray(r["ids.npy"]), f["ids"])
        assert np.array_equal(np.asarray(r["display.png"]), f["display"])
        assert r["json"] == kept(f.meta)


# -- with Blender ----------------------------------------------------------------

def in_memory(r, frames):
    """Renderer.frames' frames, copied out of shared memory: {index: Frame}."""
    return {f.meta["index"]: f.copy() for f in r.frames(frames)}


def test_shards_equal_the_frames_in_memory(flavour, warm, tmp_path):
    r = warm(flavour, None, **WB)
    want = in_memory(r, FRAMES)
    d = tmp_path / "set"
    got = r.write_shards(FRAMES, d, shard_size=3, progress=False)
    assert got == shards.ShardsWritten(dir=str(d), samples_written=7, shards_written=3, samples=7,
                                       shards=3, skipped=0)
    assert got.urls == shard_urls(d) and len(got.urls) == 3
    counts = []
    for url in got.urls:  # tarfile, numpy.load, Pillow
        samples = read_tar(url)
        counts.append(len(samples))
        for key, s in samples:
            f = want[int(key)]
            assert list(s) == ["rgba.npy", "depth.npy", "display.png", "json"]
            assert same_array(s["rgba.npy"], f["rgba"]) and same_array(s["depth.npy"], f["depth"])
            assert same_array(s["display.png"], f["display"])
            assert s["json"] == kept(f.meta) and s["json"]["frame"] == FRAMES[int(key)]
    assert counts == [3, 3, 1]
    import webdataset as wds  # the webdataset package, on its own
    seen = []
    for s in wds.WebDataset(got.urls, shardshuffle=False).decode("rgba8"):
        i = int(s["__key__"])
        f = want[i]
        assert same_array(s["rgba.npy"], f["rgba"]) and same_array(s["depth.npy"], f["depth"])
        assert same_array(s["display.png"], f["display"])
        assert s["json"] == kept(f.meta)
        seen.append(i)
    assert seen == list(range(7))
    assert set(want[0].meta) - set(read_tar(got.urls[0])[0][1]["json"]) == \
        SHARD_DROPS & set(want[0].meta)


def test_resumed_run_equals_an_uninterrupted_one(flavour, warm, tmp_path, monkeypatch):
    r = warm(flavour, None, **WB)
    whole, cut = tmp_path / "whole", tmp_path / "cut"
    r.write_shards(FRAMES, whole, shard_size=3, progress=False)
    real_add, calls = ShardWriter.add, []

    def add_then_die(self, frame, *a, **kw):
        if len(calls) == 4:  # after 4 samples: shard 0 complete, shard 1 half-written
            raise KeyboardInterrupt
        calls.append(frame.meta["index"])
        return real_add(self, frame, *a, **kw)
    monkeypatch.setattr(ShardWriter, "add", add_then_die)
    with pytest.raises(KeyboardInterrupt):
        r.write_shards(FRAMES, cut, shard_size=3, progress=False)
    monkeypatch.undo()
    assert len(shard_urls(cut)) == 1 and temporaries(cut) == []
    got = r.write_shards(FRAMES, cut, shard_size=3, resume=True, progress=False)
    assert (got.skipped, got.samples_written, got.shards_written, got.shards) == (3, 4, 2, 3)
    assert files_of(cut) == files_of(whole)
    again = r.write_shards(FRAMES, cut, shard_size=3, resume=True, progress=False)
    assert (again.skipped, again.samples_written) == (7, 0) and files_of(cut) == files_of(whole)
    # another plan, another folder's dataset: refused, naming what differs
    with pytest.raises(ba.BlendArrayError, match="made with plan.count 7, this run has plan.count 8"):
        r.write_shards(FRAMES + [29], cut, shard_size=3, resume=True, progress=False)
    with pytest.raises(ba.BlendArrayError, match=r"made with plan.crc32 \d+, this run has plan.crc32"):
        r.write_shards(FRAMES[::-1], cut, shard_size=3, resume=True, progress=False)
    with pytest.raises(ba.BlendArrayError, match=r"\(3 complete shards, 7 samples\)"):
        r.write_shards(FRAMES, cut, shard_size=3, progress=False)
    assert files_of(cut) == files_of(whole)


def test_another_seed_refuses_to_resume(flavour, tmp_path):
    from support import blender_kw
    d = tmp_path / "set"
    kw = dict(WB, resolution=(16, 16), shard_size=2, progress=False, **blender_kw(flavour))
    got = ba.write_shards(2, d, seed=1, **kw)
    assert (got.samples_written, got.shards) == (2, 1)
    with pytest.raises(ba.BlendArrayError, match="was made with renderer.seed 1, this run has "
                       "renderer.seed 2"):
        ba.write_shards(2, d, seed=2, resume=True, **kw)


def test_coco_file_per_shard(flavour, warm, tmp_path):
    """Each shard's COCO file, read by pycocotools: images are the shard's display
    members, masks equal Blender's object-index pass (see test_coco.py)."""
    from pycocotools.coco import COCO
    pass_index = {"Ground": 1, "RedCube": 2, "GreenSphere": 3, "BlueCone": 4}
    r = warm(flavour, None, passes=["object_index"], annotations=True, display=True)
    frames = [{"frame": f, "engine": "CYCLES", "samples": 1, "resolution": [64, 48]}
              for f in (1, 12, 40)]
    want = in_memory(r, frames)
    d = tmp_path / "set"
    r.write_shards(frames, d, shard_size=2, coco=True, progress=False)
    lines = [json.loads(x) for x in (d / "shards.jsonl").read_text().splitlines()]
    assert [x["coco"] for x in lines] == ["shard-000000.coco.json", "shard-000001.coco.json"]
    masks = 0
    for line in lines:
        coco = COCO(str(d / line["coco"]))
        members = dict(read_tar(d / line["shard"]))
        assert sorted(coco.imgs) == [int(k) for k in members]
        for i, img in coco.imgs.items():
            key, _, member = img["file_name"].partition(".")
            assert key == f"{i:09d}" and member == "display.png"
            assert same_array(members[key]["display.png"], want[i]["display"])
            assert (img["width"], img["height"], img["frame"]) == (64, 48, frames[i]["frame"])
        for ann in coco.anns.values():
            f = want[ann["image_id"]]
            expect = np.squeeze(f["object_index"]) == pass_index[ann["blendarray"]["name"]]
            assert np.array_equal(coco.annToMask(ann).astype(bool), expect)
            masks += 1
    assert masks == 12  # four objects in each of three frames
