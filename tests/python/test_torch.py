"""blendarray.torch.RenderDataset with real PyTorch (CPU) and real Blender (the
.venv's bpy): the same frames whatever the split, epochs, clean-up, ranks.

Values are checked against a plain blendarray.Renderer of the same frames
(frame i: the hook's index i, rng default_rng([seed, epoch, i])), bit for bit;
the hook moves the demo scene's sphere, so every frame differs from the others.
"""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

torch = pytest.importorskip("torch")  # installed by scripts/install.sh: the [torch] extra
from torch.utils.data import DataLoader  # noqa: E402

import blendarray as ba  # noqa: E402
from blendarray.torch import RenderDataset, detection_target  # noqa: E402
import hooks  # noqa: E402
from support import PACKAGE_DIR, ROOT, import_without, marks_its_tests  # noqa: E402

KW = dict(passes=["rgba", "depth"], resolution=(32, 24), engine="WORKBENCH", blender="bpy")
N = 10
SEED = 7


def reference(n=N, epoch=0, seed=SEED):
    """Frame i of the stream, rendered by a plain Renderer: {index: (arrays, meta)}."""
    with ba.Renderer(None, setup=hooks.move_sphere, seed=seed, **KW) as r:
        return {f.meta["index"]: ({k: np.array(v) for k, v in f.items()}, f.meta)
                for f in r.frames([{"seed": [seed, epoch]}] * n)}


@pytest.fixture(scope="module")
@marks_its_tests("blender")
def ref():
    out = reference()
    sums = {i: float(a["rgba"].sum()) for i, (a, _) in out.items()}
    assert len(set(sums.values())) == N, "the hook must make every frame differ"
    return out


def collect(loader):
    got = {}
    for batch in loader:
        for j, i in enumerate(batch["index"].tolist()):
            assert i not in got, f"index {i} came twice"
            got[i] = ({k: batch[k][j].numpy().copy() for k in ("rgba", "depth")},
                      batch["meta"][j])
    return got


def assert_same(got, ref, indices=None):
    assert sorted(got) == sorted(ref if indices is None else indices)
    for i, (arrays, meta) in got.items():
        want, want_meta = ref[i]
        for k in arrays:
            np.testing.assert_array_equal(arrays[k], want[k], err_msg=f"index {i} pass {k}")
        assert meta["x"] == want_meta["x"] and meta["index"] == i


@pytest.mark.parametrize("num_workers,blender_workers", [(0, 1), (1, 1), (2, 1), (0, 2)])
def test_same_frames_whatever_the_split(ref, num_workers, blender_workers):
    ds = RenderDataset(None, frames=N, setup=hooks.move_sphere, seed=SEED,
                       workers=blender_workers, batch_size=3, **KW)
    assert len(ds) == N
    loader = DataLoader(ds, batch_size=3, num_workers=num_workers)
    got = collect(loader)
    assert_same(got, ref)
    pids = {m["pid"] for _, m in got.values()}
    assert len(pids) == max(num_workers, 1) * blender_workers  # each loader worker its own Blender


def mapping_of(tensor):
    """The name of the mapping of this process that holds the tensor's first byte."""
    ptr = tensor.data_ptr()
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            lo, hi = (int(x, 16) for x in fields[0].split("-"))
            if lo <= ptr < hi:
                return fields[5] if len(fields) > 5 else ""
    return None


def test_items_without_batching_share_the_ring(ref):
    """num_workers=0, batch_size=None: the tensors are the shared memory Blender
    rendered into (no copy), valid while held; items kept beyond the ring are
    copies, never a stall."""
    ds = RenderDataset(None, frames=N, setup=hooks.move_sphere, seed=SEED, ring=3, **KW)
    kept = list(DataLoader(ds, batch_size=None))  # every item held at once: > 1 x 3 slots
    assert [it["index"] for it in kept] == list(range(N))
    for it in kept:
        np.testing.assert_array_equal(it["rgba"].numpy(), ref[it["index"]][0]["rgba"])
        assert isinstance(it["meta"], dict) and it["meta"]["x"] == ref[it["index"]][1]["x"]
    assert "memfd:blendarray" in mapping_of(kept[0]["rgba"])  # Blender's memory, not a copy
    assert "memfd:blendarray-ring" in mapping_of(kept[1]["rgba"])  # a ring slot
    assert "memfd:" not in mapping_of(kept[-1]["rgba"])  # held beyond the ring: copied out


def test_epochs_randomize_deterministically(ref):
    ds = RenderDataset(None, frames=4, setup=hooks.move_sphere, seed=SEED, **KW)
    ds.set_epoch(1)
    a = collect(DataLoader(ds, batch_size=2, num_workers=0))
    b = collect(DataLoader(ds, batch_size=2, num_workers=2))  # the epoch reaches the workers
    want = reference(4, epoch=1)
    assert_same(a, want)
    assert_same(b, want)
    assert all(a[i][1]["x"] != ref[i][1]["x"] for i in a)  # not epoch 0's
    with pytest.raises(ValueError, match="epoch"):
        ds.set_epoch(-1)


def test_shuffle_permutes_the_order_not_the_frames(ref):
    ds = RenderDataset(None, frames=N, setup=hooks.move_sphere, seed=SEED, shuffle=True, **KW)
    order = [it["index"] for it in DataLoader(ds, batch_size=None)]
    assert sorted(order) == list(range(N)) and order != list(range(N))
    ds.set_epoch(3)
    assert list(ds.indices()) != order
    got = collect(DataLoader(ds, batch_size=2))
    assert_same(got, reference(N, epoch=3))


def test_shards_split_without_overlap_or_gap():
    shares = [RenderDataset(None, frames=11, shard=(r, 3), **KW).indices() for r in range(3)]
    flat = sorted(int(i) for s in shares for i in s)
    assert flat == list(range(11))
    assert [len(RenderDataset(None, frames=11, shard=(r, 3), **KW)) for r in range(3)] == [4, 4, 3]


@pytest.mark.blender
def test_animation_frames_and_param_dicts():
    ds = RenderDataset(None, frames=[3, 40], passes=["rgba"], resolution=(16, 16),
                       engine="WORKBENCH", blender="bpy")
    items = list(DataLoader(ds, batch_size=None))
    assert [it["meta"]["frame"] for it in items] == [3, 40]
    ds = RenderDataset(None, frames=[{"frame": 5, "resolution": (8, 4)}], passes=["rgba"],
                       engine="WORKBENCH", blender="bpy")
    (it,) = list(DataLoader(ds, batch_size=None))
    assert it["rgba"].shape == (4, 8, 4) and it["meta"]["frame"] == 5


def test_pin_memory_and_default_collate(ref):
    ds = RenderDataset(None, frames=4, setup=hooks.move_sphere, seed=SEED, **KW)
    with pytest.warns(UserWarning, match="pin_memory"):  # no accelerator on these machines
        got = collect(DataLoader(ds, batch_size=2, pin_memory=True))
    assert_same(got, ref, indices=range(4))


def test_bad_input():
    with pytest.raises(ValueError, match="shard"):
        RenderDataset(None, frames=4, shard=(2, 2))
    with pytest.raises(ValueError, match="shard"):
        RenderDataset(None, frames=4, shard=(0, 0))
    with pytest.raises(ValueError, match="shard"):
        RenderDataset(None, frames=4, shard=3)
    with pytest.raises(ValueError, match="frames"):
        RenderDataset(None, frames=-1)
    with pytest.raises(ValueError, match="frames"):
        RenderDataset(None, frames="1-10")
    with pytest.raises(ValueError, match="workers"):
        RenderDataset(None, frames=4, workers=0)
    with pytest.raises(ba.SceneNotFoundError):
        RenderDataset("/nonexistent.blend", frames=4)
    import pickle
    arr = np.zeros(3)

    def uses_array(scene, index, rng):  # a nested def: cannot be sent to Blender
        return {"a": arr}
    with pytest.raises(ba.SetupError):
        RenderDataset(None, frames=4, setup=uses_array)
    ds = RenderDataset(None, frames=4, setup=hooks.move_sphere)
    assert list(pickle.loads(pickle.dumps(ds)).indices()) == [0, 1, 2, 3]  # starts nothing


def test_import_without_torch_names_the_extra():
    assert 'pip install "/path/to/blendarray[torch]"' in import_without("torch")


# -- clean-up: what a user's break or Ctrl-C leaves ---------------------------------

CLEANUP = textwrap.dedent("""
    import json, os, signal, sys, time
    from torch.utils.data import DataLoader
    from blendarray.torch import RenderDataset

    from support import descendants  # tests/python is on PYTHONPATH

    mode, nw = sys.argv[1], int(sys.argv[2])
    ds = RenderDataset(None, frames=100000, passes=["rgba"], resolution=(16, 16),
                       engine="WORKBENCH", blender="bpy", workers=2)
    seen = 0
    try:
        for batch in DataLoader(ds, batch_size=2, num_workers=nw):
            seen += 1
            if seen == 3:
                print("RUNNING", flush=True)
                if mode == "break":
                    break
            if mode == "sigint":
                time.sleep(0.01)
    except KeyboardInterrupt:
        pass
    # the consumer is alive: what is left is what blendarray (not the kernel) cleaned
    time.sleep(0.5)
    tmp = os.environ["TMPDIR"]
    print("RESULT", json.dumps({"seen": seen, "children": descendants(),
                                "tmp": sorted(n for n in os.listdir(tmp) if n.startswith("blendarray-"))}),
          flush=True)
    """)


@pytest.mark.blender
@pytest.mark.parametrize("mode,num_workers", [("break", 0), ("break", 2), ("sigint", 0),
                                              ("sigint", 2)])
def test_break_and_ctrl_c_leave_no_blender(tmp_path, mode, num_workers):
    """Breaking out of the loop, or Ctrl-C (SIGINT to the whole process group, as a
    terminal sends it), stops every Blender while the consumer lives on, and their
    temporary folders are removed: blendarray's clean-up, not the kernel's
    PR_SET_PDEATHSIG (which only fires when a parent dies, and removes no folder)."""
    script = tmp_path / "loop.py"
    script.write_text(CLEANUP)
    env = dict(os.environ, TMPDIR=str(tmp_path),
               PYTHONPATH=os.pathsep.join([PACKAGE_DIR, os.path.join(ROOT, "tests", "python")]))
    p = subprocess.Popen([sys.executable, str(script), mode, str(num_workers)], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        line = p.stdout.readline()
        assert line.startswith("RUNNING"), line + p.stderr.read()
        if mode == "sigint":
            os.killpg(p.pid, signal.SIGINT)
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
    result = json.loads(out.split("RESULT", 1)[1])
    assert result["children"] == [], err
    assert result["tmp"] == [], err
    assert p.returncode == 0, err
    assert result["seen"] >= 3


# -- torch.distributed: two ranks on this machine (gloo) --------------------------

RANK = textwrap.dedent("""
    import datetime, os, sys
    import numpy as np
    import torch.distributed as dist
    from torch.utils.data import DataLoader
    sys.path.insert(0, sys.argv[2])
    import hooks
    from blendarray.torch import RenderDataset

    def main():
        dist.init_process_group("gloo", init_method=sys.argv[1], rank=int(os.environ["RANK"]),
                                world_size=2, timeout=datetime.timedelta(seconds=120))
        ds = RenderDataset(None, frames=11, setup=hooks.move_sphere, seed=7, passes=["rgba", "depth"],
                           resolution=(32, 24), engine="WORKBENCH", blender="bpy")
        out = {}
        # spawned loader workers have no process group: the rank travels with the dataset
        for b in DataLoader(ds, batch_size=2, num_workers=1, multiprocessing_context="spawn"):
            for j, i in enumerate(b["index"].tolist()):
                out[f"rgba{i}"] = b["rgba"][j].numpy()
        np.savez(sys.argv[3], **out)
        dist.barrier()
        dist.destroy_process_group()


    if __name__ == "__main__":  # spawned loader workers import this file too
        main()
    """)


@pytest.mark.blender
def test_two_ranks_split_the_frames(tmp_path):
    ref = reference(11)
    script = tmp_path / "rank.py"
    script.write_text(RANK)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    procs = [subprocess.Popen([sys.executable, str(script), f"tcp://127.0.0.1:{port}",
                               os.path.join(ROOT, "tests", "python"), str(tmp_path / f"r{r}.npz")],
                              env=dict(env, RANK=str(r)), stderr=subprocess.PIPE, text=True)
             for r in range(2)]
    try:
        for p in procs:
            _, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
    finally:  # one rank failing leaves the other waiting for it
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    shares = []
    for r in range(2):
        with np.load(tmp_path / f"r{r}.npz") as z:
            got = {int(k[4:]): z[k] for k in z.files}
        shares.append(set(got))
        for i, a in got.items():
            np.testing.assert_array_equal(a, ref[i][0]["rgba"])
    assert not shares[0] & shares[1], "a frame went to both ranks"
    assert shares[0] | shares[1] == set(range(11)), "a frame went to no rank"
    assert len(shares[0]) == 6 and len(shares[1]) == 5


@pytest.mark.blender
def test_training_example_runs():
    """examples/train_torch.py: a tiny CNN learns the sphere's position from the stream."""
    env = dict(os.environ, PYTHONPATH=PACKAGE_DIR)
    t0 = time.time()
    p = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "train_torch.py"),
                        "--steps", "40", "--blender", "bpy"],
                       capture_output=True, text=True, env=env, timeout=600)
    assert p.returncode == 0, p.stderr
    losses = [float(line.split()[-1]) for line in p.stdout.splitlines()
              if line.startswith("step")]
    assert len(losses) == 40, p.stdout
    first, last = np.mean(losses[:5]), np.mean(losses[-5:])
    assert last < 0.5 * first, f"the loss did not fall: {first} -> {last} ({time.time() - t0:.0f} s)"


@pytest.mark.blender
def test_annotations_ride_in_item_meta():
    """annotations=True: item["meta"]["annotations"] is the frame's labels, through the
    default collate (a list of dicts per batch), equal to a plain Renderer's."""
    kw = dict(passes=["rgba"], resolution=(32, 24), engine="CYCLES", samples=1, blender="bpy")
    with ba.Renderer(None, annotations=True, **kw) as r:
        want = [f.meta["annotations"] for f in r.frames([1, 40, 80])]
    ds = RenderDataset(None, frames=[1, 40, 80], annotations=True, batch_size=3, **kw)
    (batch,) = list(DataLoader(ds, batch_size=3))
    assert batch["index"].tolist() == [0, 1, 2]
    assert [m["annotations"] for m in batch["meta"]] == want
    assert {i["name"] for i in want[0]["instances"]} == {"Ground", "RedCube", "GreenSphere",
                                                         "BlueCone"}
    assert batch["cryptomatte_object_00"].shape == (3, 24, 32, 4)
    # each frame's target in torchvision's detection format, against pycocotools
    import pycocotools.mask as coco
    for meta in batch["meta"]:
        t = detection_target(meta)
        insts = meta["annotations"]["instances"]
        assert t["boxes"].dtype == torch.float32 and t["labels"].dtype == torch.int64
        assert t["masks"].dtype == torch.uint8 and t["masks"].shape == (len(insts), 24, 32)
        for k, inst in enumerate(insts):
            m = coco.decode(inst["segmentation"])
            x, y, w, h = coco.toBbox(inst["segmentation"])
            assert (t["masks"][k].numpy() == m).all() and m.any()
            assert t["boxes"][k].tolist() == [x, y, x + w, y + h]
            assert t["labels"][k] == inst["category_id"] and t["ids"][k] == inst["id"]
    assert "masks" not in detection_target(batch["meta"][0], masks=False)


def test_detection_target_leaves_out_uncategorised_instances():
    seg = {"size": [2, 3], "counts": coco_counts(np.array([[1, 1, 0], [0, 1, 0]], np.uint8))}
    insts = [{"id": 5, "category_id": None, "bbox": [0, 0, 2, 2], "segmentation": seg},
             {"id": 9, "category_id": 3, "bbox": [0, 0, 2, 2], "segmentation": seg}]
    meta = {"resolution": [3, 2], "annotations": {"instances": insts}}
    t = detection_target(meta)
    assert t["ids"].tolist() == [9] and t["labels"].tolist() == [3]
    assert t["boxes"].tolist() == [[0.0, 0.0, 2.0, 2.0]]
    assert t["masks"].tolist() == [[[1, 1, 0], [0, 1, 0]]]
    none = detection_target(dict(meta, annotations={"instances": insts[:1]}))
    assert none["boxes"].shape == (0, 4) and none["masks"].shape == (0, 2, 3)
    with pytest.raises(ValueError, match="annotations=True"):
        detection_target({"resolution": [3, 2]})


def coco_counts(m):
    import pycocotools.mask as coco
    return coco.encode(np.asfortranarray(m))["counts"].decode()
