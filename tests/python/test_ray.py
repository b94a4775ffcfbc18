"""blendarray.ray.read_renders on a real multi-node Ray cluster, with real Blender (bpy).

One cluster for the module, Ray's own ray.cluster_utils.Cluster, on 127.0.0.1
only: a head (the driver's node) and two worker nodes with 2 logical CPUs and
the custom resource "render": 2 each. An actor asking for render=2 fills a
worker node (2 actors: one on each); one asking for render=1 may share (a
node lost, the survivor takes its actor).

Values are checked against a plain blendarray.Renderer of the same frames
(frame i: the hook's index i, rng default_rng([seed, i])), bit for bit; the
hook turns and moves the demo scene's cube, so every frame differs, and
returns per-frame values (None for even indices: the metadata is JSON) and the
pid of the actor whose Blender ran it (Blender's parent). The hook is a
'file.py:function' written here: every node reads the same path, as a shared
filesystem gives.
"""
import glob
import json
import os
import signal
import textwrap
import threading
import time

os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"  # loopback only; read when ray is imported

import numpy as np
import pytest

ray = pytest.importorskip("ray")  # the [ray] extra
from ray.cluster_utils import Cluster  # noqa: E402

import blendarray as ba  # noqa: E402
from blendarray.ray import read_renders, to_webdataset_row  # noqa: E402
from support import descendants, import_without, marks_its_tests  # noqa: E402

KW = dict(passes=["rgba", "depth"], resolution=(32, 32), engine="WORKBENCH", blender="bpy")
N = 40
SEED = 5
VOLATILE = {"render_seconds", "capture_seconds", "display_seconds", "worker", "actor", "pid"}
LOCAL = "127.0.0.1"
# what a shard's .json leaves out (docs/integrations.md, docs/datasets.md)
SHARD_DROPS = {"worker", "render_seconds", "capture_seconds", "display_seconds",
               "annotation_seconds"}
NODE = dict(num_cpus=2, resources={"render": 2}, object_store_memory=100 << 20,
            node_ip_address=LOCAL)

HOOKS = textwrap.dedent("""
    import os
    import time

    def randomize(scene, index, rng):
        cube = scene.objects["RedCube"]
        cube.rotation_euler.z = float(rng.uniform(0.0, 6.283))
        cube.location.x = float(rng.uniform(-1.0, 1.0))
        cube.location.y = float(rng.uniform(-1.0, 1.0))
        return {"angle": cube.rotation_euler.z, "odd": index if index % 2 else None,
                "actor": os.getppid(), "pid": os.getpid()}

    def gated(scene, index, rng):
        # While the file GATE exists, a frame says it started (BUSY/<actor pid>-<index>)
        # and waits: a test that kills an actor knows it dies mid-frame.
        if os.path.exists(GATE):
            open(os.path.join(BUSY, "%d-%d" % (os.getppid(), index)), "w").close()
            t = time.monotonic()
            while os.path.exists(GATE) and time.monotonic() - t < 120:
                time.sleep(0.01)
        return randomize(scene, index, rng)

    def gated_slow(scene, index, rng):
        # 0.1 s a frame: when the first rows arrive, the actor that sent them still
        # has frames to render (a fast pipeline could have finished its share)
        time.sleep(0.1)
        return gated(scene, index, rng)
    """)


@pytest.fixture(scope="module")
def hooks(tmp_path_factory):
    d = tmp_path_factory.mktemp("ray-hooks")
    (d / "busy").mkdir()
    path = d / "ray_hooks.py"
    path.write_text(f"GATE = {str(d / 'gate')!r}\nBUSY = {str(d / 'busy')!r}\n" + HOOKS)
    return str(path)


def mid_frame(hooks, actor, act):
    """Close the gate, wait until `actor` (a pid) has started a frame behind it,
    act(), and open the gate again: whatever act() kills dies mid-frame, with
    work in flight, however loaded the machine is. Returns whether it did (an
    actor with no frame left never starts one: then it is acted on idle)."""
    d = os.path.dirname(hooks)
    gate, busy = os.path.join(d, "gate"), os.path.join(d, "busy")
    open(gate, "w").close()
    try:
        t = time.monotonic()
        # 30 s at most: an actor with no batch left (all dealt to the other) never
        # starts one; it is killed idle then, as before the gate
        while not (busy_now := any(n.startswith(f"{actor}-") for n in os.listdir(busy))):
            if time.monotonic() - t > 30:
                break
            time.sleep(0.01)
        act()
        return busy_now
    finally:
        os.remove(gate)


@pytest.fixture(scope="module")
@marks_its_tests("blender")
def ref(hooks):
    """Frame i rendered by a plain Renderer: {index: (arrays, meta)}."""
    with ba.Renderer(None, setup=hooks + ":randomize", seed=SEED, **KW) as r:
        out = {f.meta["index"]: ({k: np.array(v) for k, v in f.items()}, f.meta)
               for f in r.frames(N)}
    assert len({a["depth"].tobytes() for a, _ in out.values()}) == N, "frames must differ"
    return out


@pytest.fixture(scope="module")
@marks_its_tests("slow")
def cluster():
    """A head and two worker nodes on 127.0.0.1. At the end no process of theirs
    is left: Ray's, the actors', their Blenders (every one seen during the tests)."""
    c = Cluster(initialize_head=True, head_node_args=dict(
        num_cpus=1, include_dashboard=False, object_store_memory=100 << 20,
        node_ip_address=LOCAL))
    for _ in range(2):
        c.add_node(**NODE)
    c.wait_for_nodes()
    ray.init(address=c.address, _node_ip_address=LOCAL, log_to_driver=False,
             logging_level="ERROR")
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.wait_for_min_actors_s = 120  # work is dealt once every actor is up: both get some
    c.seen = set()  # pids: this process's descendants after each test, and the hooks' pids
    try:
        yield c
    finally:
        c.seen |= _descendants()
        ray.shutdown()
        c.shutdown()
        left = c.seen
        for _ in range(100):
            left = {p for p in left if _alive(p)}
            if not left:
                break
            time.sleep(0.2)
        assert not left, f"left running: {[(p, _cmdline(p)[:100]) for p in left]}"


@pytest.fixture(autouse=True)
def _track(request):
    yield
    if "cluster" in request.fixturenames:
        request.getfixturevalue("cluster").seen |= _descendants()


def _descendants():
    return set(descendants())


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def collect(ds, on_batch=None, timeout=180):
    """{index: row} of every row (asserting none comes twice), consumed as a
    training loop would; on_batch(rows so far) runs after each batch. Fails,
    rather than hangs, after `timeout` seconds."""
    got, err = {}, []

    def run():
        try:
            for b in ds.iter_batches(batch_size=None, batch_format="numpy"):
                for j, i in enumerate(b["index"].tolist()):
                    assert i not in got, f"index {i} came twice"
                    got[i] = {k: v[j] for k, v in b.items()}
                if on_batch is not None:
                    on_batch(got)
        except BaseException as e:
            err.append(e)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(timeout)
    assert not t.is_alive(), f"the dataset did not finish in {timeout} s ({len(got)} rows)"
    if err:
        raise err[0]
    return got


def assert_same(got, ref, cluster, n=N):
    """Every index 0..n-1 once, each row bit for bit the Renderer's frame."""
    assert sorted(got) == list(range(n))
    for i, row in got.items():
        arrays, meta = ref[i]
        for k, want in arrays.items():
            assert row[k].dtype == want.dtype and row[k].shape == want.shape, (i, k)
            assert row[k].tobytes() == want.tobytes(), f"index {i} pass {k} differs"
        m = json.loads(row["meta"])
        assert m["index"] == i and m["odd"] == (i if i % 2 else None)
        assert {k: v for k, v in m.items() if k not in VOLATILE} == \
            {k: v for k, v in meta.items() if k not in VOLATILE}, f"index {i} meta differs"
    for r in got.values():
        m = json.loads(r["meta"])
        cluster.seen |= {m["pid"], m["actor"]}


def actors_of(got):
    return {json.loads(r["meta"])["actor"] for r in got.values()}


# -- the dataset ----------------------------------------------------------------------

def test_rows_from_both_worker_nodes_equal_the_renderers(cluster, ref, hooks):
    """No actors=: as many actors as the nodes hold, each asking for render=2: one
    on each worker node, none on the head (no "render"). Rows come from both worker
    nodes (the "node" column), every index once, each the Renderer's frame bit for
    bit, the hook's per-frame values in its own row. The pool starts at that size,
    so this holds however short the read (40 frames)."""
    ds = read_renders(None, frames=N, setup=hooks + ":randomize", seed=SEED,
                      batch_size=4, resources={"render": 2}, **KW)
    got = collect(ds)
    assert_same(got, ref, cluster)
    nodes = {r["node"] for r in got.values()}
    assert nodes == {n.node_id for n in cluster.worker_nodes}, nodes
    assert {r["host"] for r in got.values()} == {os.uname().nodename}
    assert len(actors_of(got)) == 2


def test_write_webdataset_reads_back_exactly(cluster, hooks, tmp_path):
    """.map(to_webdataset_row).write_webdataset(path, encoder=None): tar members
    <key>.<pass>.npy, <key>.display.png and <key>.json per sample (key: the index, 9
    digits), read back by the webdataset package and by ray.data.read_webdataset: the
    arrays bit for bit a plain Renderer's, the display image decoded by Pillow equal to
    the Renderer's, the JSON its metadata less the worker and timings. actors=2 pins the
    pool at 2 where the nodes would hold 4 (render=1 of 2 on each worker node)."""
    import tarfile

    import webdataset as wds
    n, kw = 12, dict(KW, display=True)
    with ba.Renderer(None, setup=hooks + ":randomize", seed=SEED, **kw) as r:
        want = {f.meta["index"]: ({k: np.array(v) for k, v in f.items()}, f.meta)
                for f in r.frames(n)}
    assert set(want[0][0]) == {"rgba", "depth", "display"}
    ds = read_renders(None, frames=n, setup=hooks + ":randomize", seed=SEED, actors=2,
                      batch_size=2, resources={"render": 1}, **kw)
    out = tmp_path / "wds"
    ds.map(to_webdataset_row).write_webdataset(str(out), encoder=None)
    tars = sorted(str(p) for p in out.glob("*.tar"))
    members = [m for t in tars for m in tarfile.open(t).getnames()]
    assert sorted(members) == sorted(f"{i:09d}.{x}" for i in range(n)
                                     for x in ("rgba.npy", "depth.npy", "display.png", "json"))

    def check(i, arrays, png, meta):
        for k in ("rgba", "depth"):
            a, b = arrays[k], want[i][0][k]
            assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), (i, k)
        assert png.dtype == np.uint8 and png.tobytes() == want[i][0]["display"].tobytes(), i
        assert meta["index"] == i and meta["odd"] == (i if i % 2 else None)
        assert {k: v for k, v in meta.items() if k not in VOLATILE} == \
            {k: v for k, v in want[i][1].items() if k not in VOLATILE}, i
        # what says where and how fast, left out as blendarray's shard writer does
        assert set(meta) == set(want[i][1]) - SHARD_DROPS, sorted(set(meta) ^ set(want[i][1]))
        return meta["actor"]

    seen, actors = [], set()
    for s in wds.WebDataset(tars, shardshuffle=False).decode("rgba8"):
        i = int(s["__key__"])
        actors.add(check(i, {k: s[f"{k}.npy"] for k in ("rgba", "depth")}, s["display.png"],
                         s["json"]))
        seen.append(i)
    assert sorted(seen) == list(range(n))
    assert len(actors) == 2, actors
    rows = ray.data.read_webdataset(str(out)).take_all()
    assert sorted(int(r["__key__"]) for r in rows) == list(range(n))
    for r in rows:
        check(int(r["__key__"]), {k: np.asarray(r[f"{k}.npy"]) for k in ("rgba", "depth")},
              np.asarray(r["display.png"]), r["json"])
    cluster.seen |= actors
    # encoder=None forgotten: Ray's default encoder fails on the json member (bytes),
    # rather than writing the .npy members' bytes as arrays of bytes
    bad = to_webdataset_row({"depth": np.zeros((2, 2), np.float32), "index": 0})
    with pytest.raises(Exception, match="bytes is not JSON serializable"):
        ray.data.from_items([bad]).write_webdataset(str(tmp_path / "bad"))


def test_recycling_arguments_reach_each_actors_renderer(cluster, ref, hooks):
    """max_worker_frames=2: the actor's Renderer replaces its Blender after every 2
    frames (the hook reports its Blender's pid: one actor renders its batch in index
    order, so indices 0-1, 2-3, 4-5 share a pid each); max_worker_memory=1 (bytes,
    less than any Blender holds): once the frames already sent to it are in, so
    more than one Blender renders 4 frames, each a run of them. Rows bit for bit
    as ever."""
    def pids(**kw):
        ds = read_renders(None, frames=kw.pop("frames"), setup=hooks + ":randomize", seed=SEED,
                          actors=1, batch_size=8, resources={"render": 1}, **kw, **KW)
        got = collect(ds)
        assert_same(got, ref, cluster, n=len(got))
        assert len(actors_of(got)) == 1
        return [json.loads(got[i]["meta"])["pid"] for i in sorted(got)]

    p = pids(frames=6, max_worker_frames=2)
    assert p[0] == p[1] and p[2] == p[3] and p[4] == p[5] and len(set(p)) == 3, p
    p = pids(frames=4, max_worker_memory=1)
    runs = [q for k, q in enumerate(p) if k == 0 or q != p[k - 1]]
    assert len(runs) >= 2 and len(set(runs)) == len(runs), p


@pytest.mark.blender
def test_animation_frames_and_param_dicts(cluster, hooks):
    """frames= frame numbers or param dicts: row i is params i, as Renderer.frames
    renders them in order (a per-frame seed replaces seed; a per-frame resolution
    is that frame's only, whichever frames its actor rendered before)."""
    frames = [1, {"frame": 5, "resolution": (16, 8)}, 3, {"frame": 2, "seed": 11}]
    with ba.Renderer(None, setup=hooks + ":randomize", seed=SEED, **KW) as r:
        want = {f.meta["index"]: ({k: np.array(v) for k, v in f.items()}, f.meta)
                for f in r.frames(frames)}
    ds = read_renders(None, frames=frames, setup=hooks + ":randomize", seed=SEED, actors=1,
                      batch_size=3, resources={"render": 1}, **KW)
    got = collect(ds)
    assert sorted(got) == [0, 1, 2, 3] and got[2]["depth"].shape == (32, 32)
    for i, row in got.items():
        meta = json.loads(row["meta"])
        assert meta["frame"] == want[i][1]["frame"] and meta["angle"] == want[i][1]["angle"]
        for k, a in want[i][0].items():
            assert row[k].shape == a.shape and row[k].tobytes() == a.tobytes(), (i, k)
    assert got[1]["depth"].shape == (8, 16)  # its own resolution: a variable-shaped column


@pytest.mark.blender
def test_annotations_ride_in_the_meta_column(cluster):
    """annotations=True: each row's meta JSON holds its frame's labels (Cycles: the
    demo's four objects, boxes as a plain Renderer finds them), and the instance
    pass is a column."""
    kw = dict(passes=["rgba"], resolution=(32, 24), engine="CYCLES", samples=1, blender="bpy")
    with ba.Renderer(None, annotations=True, **kw) as r:
        want = [f.meta["annotations"] for f in r.frames([1, 40])]
    ds = read_renders(None, frames=[1, 40], actors=1, resources={"render": 1},
                      annotations=True, **kw)
    got = collect(ds)
    assert sorted(got) == [0, 1]
    for i, row in got.items():
        ann = json.loads(row["meta"])["annotations"]
        assert ann == want[i] and len(ann["instances"]) == 4
        ids = row["cryptomatte_object_00"][..., 0].view(np.uint32)
        assert sorted(int(x) for x in np.unique(ids)) == sorted(x["id"] for x in ann["instances"])


def test_columns_feed_iter_torch_batches(cluster, ref, hooks, monkeypatch):
    """columns= leaves the strings out: iter_torch_batches takes the rest as is,
    tensors equal to the Renderer's arrays."""
    torch = pytest.importorskip("torch")
    ds = read_renders(None, frames=8, setup=hooks + ":randomize", seed=SEED, actors=1,
                      resources={"render": 1}, columns=["depth", "index"], **KW)
    seen = []
    for batch in ds.iter_torch_batches(batch_size=3):
        assert set(batch) == {"depth", "index"}
        assert isinstance(batch["depth"], torch.Tensor) and batch["depth"].shape[1:] == (32, 32)
        for i, depth in zip(batch["index"].tolist(), batch["depth"]):
            assert depth.numpy().tobytes() == ref[i][0]["depth"].tobytes(), i
            seen.append(i)
    assert sorted(seen) == list(range(8))


def test_write_numpy_equals_the_renderers_arrays(cluster, ref, hooks, tmp_path):
    """write_numpy's files, read back with numpy: every frame's depth once, equal
    to the Renderer's (matched by content: the files hold no index)."""
    ds = read_renders(None, frames=N, setup=hooks + ":randomize", seed=SEED, actors=2,
                      batch_size=8, resources={"render": 1}, **KW)
    ds.write_numpy(str(tmp_path / "depth"), column="depth")
    files = sorted(glob.glob(str(tmp_path / "depth" / "*.npy")))
    assert files
    written = np.concatenate([np.load(f) for f in files])
    assert written.shape == (N, 32, 32) and written.dtype == np.float32
    want = {ref[i][0]["depth"].tobytes(): i for i in range(N)}
    assert len(want) == N
    assert sorted(want[a.tobytes()] for a in written) == list(range(N))


def test_write_parquet_keeps_heterogeneous_metadata(cluster, ref, hooks, tmp_path):
    """Parquet, read back: the tensors bit for bit, and meta's None and numbers
    (JSON strings: one Arrow type whatever the hook returned)."""
    ds = read_renders(None, frames=12, setup=hooks + ":randomize", seed=SEED, actors=2,
                      batch_size=3, resources={"render": 1}, **KW)
    ds.write_parquet(str(tmp_path / "pq"))
    rows = ray.data.read_parquet(str(tmp_path / "pq")).take_all()
    assert sorted(r["index"] for r in rows) == list(range(12))
    for r in rows:
        i = r["index"]
        assert np.asarray(r["rgba"]).tobytes() == ref[i][0]["rgba"].tobytes()
        assert json.loads(r["meta"])["odd"] == (i if i % 2 else None)


# -- failures cost only time ----------------------------------------------------------

def test_killed_actor_costs_only_time(cluster, ref, hooks):
    """SIGKILL of an actor mid-run (the one that sent the first rows, while it
    renders a frame of a later batch): Ray restarts it and retries its batch; the
    dataset is complete and identical, and a third actor process rendered some of it."""
    killed = []

    def kill(got):
        if not killed:
            pid = json.loads(next(iter(got.values()))["meta"])["actor"]
            busy = mid_frame(hooks, pid, lambda: os.kill(pid, signal.SIGKILL))
            killed.append((pid, len(got), busy))

    ds = read_renders(None, frames=N, setup=hooks + ":gated_slow", seed=SEED, actors=2,
                      batch_size=4, resources={"render": 1}, **KW)
    got = collect(ds, on_batch=kill)
    assert killed and killed[0][1] < N and killed[0][2], killed  # mid-frame, rows to come
    assert_same(got, ref, cluster)
    assert len(actors_of(got)) >= 3, "the killed actor was not replaced"


def test_removed_node_costs_only_time(cluster, ref, hooks):
    """A worker node removed mid-run (the node of the first rows, while its actor
    renders a frame of a later batch: its actor, its Blender, the blocks in its
    object store are gone): Ray restarts the actor on the other node, retries
    the batch and rebuilds lost blocks; the dataset is complete and identical.
    A fresh node replaces the removed one afterwards."""
    removed = []

    def remove(got):
        if not removed:
            first = next(iter(got.values()))
            node, pid = first["node"], json.loads(first["meta"])["actor"]
            victim = [n for n in cluster.worker_nodes if n.node_id == node][0]
            busy = mid_frame(hooks, pid, lambda: cluster.remove_node(victim))
            removed.append((node, len(got), busy))

    ds = read_renders(None, frames=N, setup=hooks + ":gated_slow", seed=SEED, actors=2,
                      batch_size=4, resources={"render": 1}, **KW)
    try:
        got = collect(ds, on_batch=remove)
    finally:
        while len(cluster.worker_nodes) < 2:
            cluster.add_node(**NODE)
        cluster.wait_for_nodes()
    assert removed and removed[0][1] < N and removed[0][2], removed
    assert_same(got, ref, cluster)
    after = {r["node"] for i, r in got.items()}
    assert removed[0][0] in after and len(after) == 2, after


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("kw", [dict(actors=0), dict(frames=-1), dict(batch_size=0),
                                dict(blender_workers=0), dict(num_cpus=-1), dict(frames="12"),
                                dict(frames=[1.5]), dict(seed=-1), dict(columns=["nope"]),
                                dict(passes=["meta"]), dict(actors=1.5), dict(memory=-1),
                                dict(resources={"render": -1}), dict(resources=["render"])])
def test_bad_arguments_are_value_errors(kw):
    args = dict(frames=4, passes=["rgba"])
    args.update(kw)
    with pytest.raises(ValueError):
        read_renders(None, **args)


def test_capacity_counts_actors_node_by_node(monkeypatch):
    """The most actors the nodes hold, as the pool's size without actors=: per
    alive node, its total of each resource asked for divided by the amount asked
    (an actor does not span nodes), summed."""
    from blendarray import ray as bray
    nodes = [{"Alive": True, "Resources": {"CPU": 3.0, "GPU": 1.0, "memory": 8e9, "render": 2.0}},
             {"Alive": True, "Resources": {"CPU": 8.0, "memory": 2e9}},
             {"Alive": False, "Resources": {"CPU": 64.0, "GPU": 8.0, "render": 8.0}}]
    monkeypatch.setattr(ray, "nodes", lambda: nodes)
    assert bray._capacity(1, 0, None, None) == 11
    assert bray._capacity(2, 0, None, None) == 1 + 4
    assert bray._capacity(0.5, 0, None, None) == 22
    assert bray._capacity(1, 1, None, None) == 1
    assert bray._capacity(1, 0, 3e9, None) == 2
    assert bray._capacity(1, 0, None, {"render": 1}) == 2
    assert bray._capacity(0, 0, None, None) == 11  # asks for nothing: one per CPU
    assert bray._capacity(4, 0, None, {"render": 1}) == 0


def test_to_webdataset_row_needs_the_index():
    with pytest.raises(ba.BlendArrayError, match="keep index in columns="):
        to_webdataset_row({"rgba": np.zeros((2, 2, 4), np.float32)})


def test_to_webdataset_row_always_has_a_json_member():
    """Without the meta column, the index alone: every sample has a json member
    (on which a forgotten encoder=None fails: test_write_webdataset_reads_back_exactly)."""
    depth = np.arange(6, dtype=np.float32).reshape(2, 3)
    row = to_webdataset_row({"depth": depth, "index": np.int64(7)})
    assert sorted(row) == ["__key__", "depth.npy", "json"] and row["__key__"] == "000000007"
    assert json.loads(row["json"]) == {"index": 7}
    import io
    back = np.load(io.BytesIO(row["depth.npy"]))
    assert back.dtype == depth.dtype and back.tobytes() == depth.tobytes()


@pytest.mark.parametrize("kw", [dict(max_worker_frames=-1), dict(max_worker_frames="2"),
                                dict(max_worker_frames=True), dict(max_worker_memory=-2),
                                dict(max_worker_memory=1.5)])
def test_bad_recycling_arguments_fail_at_the_call(kw):
    """As Renderer checks them, at the call: not in every actor."""
    with pytest.raises(ba.BlendArrayError, match=next(iter(kw))):
        read_renders(None, frames=4, passes=["rgba"], **kw)


def test_unsendable_hook_fails_at_the_call():
    """A hook that cannot be sent (a nested function, reading its enclosing one's variable)
    raises SetupError from read_renders() itself: no dataset, nothing rendered."""
    angle = 1.0

    def hook(scene, index, rng):
        scene.objects["RedCube"].rotation_euler.z = angle

    with pytest.raises(ba.SetupError, match="top-level def"):
        read_renders(None, frames=4, setup=hook, **KW)


def test_node_without_blender_is_named(cluster):
    """A node where Blender cannot be found: simulated by a node whose processes
    have BLENDARRAY_BLENDER=/nonexistent in their environment (blender=None
    reads it: a Blender binary that does not exist), reached through its own
    resource. The run fails with an error naming that node (id, host, address)
    and what to install there."""
    bad = cluster.add_node(num_cpus=1, resources={"noblender": 1}, object_store_memory=80 << 20,
                           node_ip_address=LOCAL,
                           env_vars={"BLENDARRAY_BLENDER": "/nonexistent"})
    try:
        cluster.wait_for_nodes()
        ds = read_renders(None, frames=4, passes=["rgba"], resolution=(16, 16),
                          engine="WORKBENCH", resources={"noblender": 1})
        with pytest.raises(Exception) as e:
            collect(ds, timeout=120)
        msg = str(e.value)
        assert f"Ray node {bad.node_id} ({os.uname().nodename}, {LOCAL}) has no Blender" in msg
        assert "/nonexistent" in msg and "pip install bpy" in msg
        assert "apt-get install blender" in msg
    finally:
        cluster.remove_node(bad)


def test_import_without_ray_names_the_extra():
    assert 'pip install "/path/to/blendarray[ray]"' in import_without("ray")
