"""Property tests of blendarray.torch.RenderDataset's split of the frames: over
torch.distributed ranks (shard=), DataLoader workers, shuffling, epochs and the
per-frame seeds, against a pure-Python statement of what must hold.

The model (the module docstring of blendarray/torch.py, RenderDataset's and
__len__'s): an epoch has one order P of the frame indices 0..n-1 -- 0, 1, ...
without shuffle, else a permutation that depends on seed and epoch only (not on
the frames' contents, the ranks, the workers); rank r of world w takes P[r::w]
(len(dataset) says how many); that share is yielded whole, each index once,
whatever the number of DataLoader workers, and in the order P with
batch_size=None (the DataLoader takes its workers' items in turn); frame i
carries seed [seed, epoch] (the hook's rng: default_rng([seed, epoch, i])) and
its own params, whichever worker renders it.

Most examples render nothing: the dataset below is a RenderDataset whose
__iter__ yields what RenderDataset.__iter__ would hand its Renderer (index i
and its params, from indices() and _params()), iterated by real DataLoaders
with 0 to 3 worker processes. One test renders (Workbench, 8x8) through a
DataLoader with 2 workers and shuffle, against a plain Renderer.
"""
import pickle
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader, get_worker_info  # noqa: E402

import blendarray as ba  # noqa: E402
from blendarray.torch import RenderDataset  # noqa: E402
import hooks  # noqa: E402

SETTINGS = dict(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])

# DataLoader warns that 3 workers exceed this 2-core machine's suggestion
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create:UserWarning")


class Unrendered(RenderDataset):
    """RenderDataset's own index logic, yielding what __iter__ would render: for each
    index of indices(), its params (_params) and the loader worker that holds it."""

    def __iter__(self):
        info = get_worker_info()
        for i in self.indices():
            yield {"index": int(i), "params": self._params(int(i)),
                   "worker": info.id if info is not None else None}


def loader_items(ds, num_workers):
    """What a DataLoader over ds yields, one item at a time, in order."""
    return list(DataLoader(ds, batch_size=None, num_workers=num_workers))


def epoch_order(frames, shuffle, seed, epoch):
    """P, as one process alone (rank 0 of 1, no loader workers) visits it."""
    ds = Unrendered(None, frames=frames, shuffle=shuffle, seed=seed)
    ds.set_epoch(epoch)
    return [int(i) for i in ds.indices()]


frame_tables = st.one_of(
    st.integers(0, 40),                                              # N renders of the scene
    st.lists(st.integers(-3, 6), max_size=40),                       # frame numbers, repeats
    st.lists(st.fixed_dictionaries({"frame": st.integers(1, 9)},     # per-frame params
                                   optional={"seed": st.lists(st.integers(0, 9), max_size=2)}),
             max_size=20))


def count_of(frames):
    return frames if isinstance(frames, int) else len(frames)


def params_of(frames, i):
    """Frame i's own params: {} for a count, {"frame": n} for a frame number."""
    if isinstance(frames, int):
        return {}
    return dict(frames[i]) if isinstance(frames[i], dict) else {"frame": frames[i]}


@settings(max_examples=100, **SETTINGS)
@given(frames=frame_tables, world=st.integers(1, 4), num_workers=st.sampled_from([0, 1, 2, 3]),
       shuffle=st.booleans(), seed=st.integers(0, 2**32), epoch=st.integers(0, 5))
def test_ranks_and_workers_split_the_epoch(frames, world, num_workers, shuffle, seed, epoch):
    """Reference: the model (module docstring). Every rank's DataLoader, over
    num_workers workers, yields exactly P[rank::world], in that order, and as many
    as len(); all ranks together: each index of the epoch once, none dropped; each
    frame's params are its own with seed [seed, epoch], whichever worker had it."""
    n = count_of(frames)
    P = epoch_order(frames, shuffle, seed, epoch)
    assert sorted(P) == list(range(n)), "the order is a permutation of the indices"
    if not shuffle:
        assert P == list(range(n))
    seen = []
    for rank in range(world):
        ds = Unrendered(None, frames=frames, shuffle=shuffle, seed=seed, shard=(rank, world))
        ds.set_epoch(epoch)
        items = loader_items(ds, num_workers)
        got = [it["index"] for it in items]
        assert got == P[rank::world], f"rank {rank} of {world}, {num_workers} loader workers"
        assert len(ds) == len(got), f"len() of rank {rank} of {world}"
        if num_workers:
            assert {it["worker"] for it in items} <= set(range(num_workers))
        for it in items:
            want = dict(params_of(frames, it["index"]))
            want.setdefault("seed", [seed, epoch])
            assert it["params"] == want, f"index {it['index']} on worker {it['worker']}"
        seen += got
    assert sorted(seen) == list(range(n)), "each index of the epoch once over all ranks"


@settings(max_examples=200, **SETTINGS)
@given(n=st.integers(8, 60), seed=st.integers(0, 2**32), other=st.integers(0, 2**32),
       epochs=st.lists(st.integers(0, 10**6), min_size=2, max_size=2, unique=True))
def test_the_order_depends_on_seed_and_epoch_only(n, seed, other, epochs):
    """Reference: the model's P. With shuffle, P is the same for a count of n and
    for a list of n frame numbers or param dicts, for a fresh or a pickled dataset
    (a spawned loader worker's), after other epochs came and went, and for every
    rank's share; it changes with the epoch and with the seed (n >= 8: two of
    n! orders agree by chance with probability < 1e-4); without shuffle it is 0..n-1."""
    e1, e2 = epochs
    P = epoch_order(n, True, seed, e1)
    assert sorted(P) == list(range(n))
    assert epoch_order(list(range(100, 100 + n)), True, seed, e1) == P
    assert epoch_order([{"frame": 1, "tag": k} for k in range(n)], True, seed, e1) == P
    ds = Unrendered(None, frames=n, shuffle=True, seed=seed)
    ds.set_epoch(e2)
    ds.set_epoch(e1)
    assert [int(i) for i in ds.indices()] == P
    assert [int(i) for i in pickle.loads(pickle.dumps(ds)).indices()] == P
    assert epoch_order(n, True, seed, e2) != P, "another epoch, another order"
    if other != seed:
        assert epoch_order(n, True, other, e1) != P, "another seed, another order"
    assert epoch_order(n, False, seed, e1) == list(range(n))


# -- one real render: 2 loader workers, shuffled, against a plain Renderer ------------------

KW = dict(passes=["rgba"], resolution=(8, 8), engine="WORKBENCH", blender="bpy")


@pytest.mark.blender
def test_two_workers_shuffled_render_each_frame_as_a_renderer_does():
    """Reference: the model's P for (seed 7, epoch 2), and a plain Renderer rendering
    frame i with seed [7, 2] (the hook's rng default_rng([7, 2, i])): the loader
    yields P in order, each frame's pixels and hook result equal the Renderer's,
    and both loader workers rendered (each with its own Blender)."""
    n, seed, epoch = 6, 7, 2
    ds = RenderDataset(None, frames=n, setup=hooks.move_sphere, seed=seed, shuffle=True, **KW)
    ds.set_epoch(epoch)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        items = [(it["index"], it["rgba"].numpy().copy(), it["meta"])
                 for it in DataLoader(ds, batch_size=None, num_workers=2)]
    with ba.Renderer(None, setup=hooks.move_sphere, seed=seed, **KW) as r:
        ref = {f.meta["index"]: (np.array(f["rgba"]), f.meta["x"])
               for f in r.frames([{"seed": [seed, epoch]}] * n)}
    assert [i for i, _, _ in items] == epoch_order(n, True, seed, epoch) != list(range(n))
    for i, rgba, meta in items:
        np.testing.assert_array_equal(rgba, ref[i][0], err_msg=f"index {i}")
        assert meta["x"] == ref[i][1] and meta["index"] == i
    assert len({m["x"] for _, _, m in items}) == n, "the hook made every frame differ"
    assert len({m["pid"] for _, _, m in items}) == 2, "each loader worker its own Blender"


@pytest.mark.parametrize("shard, message", [
    ((2, 2), "shard=(2, 2): the rank must be < world_size"),
    ((0, 0), "shard's world_size must be an integer >= 1, not 0"),
    ((-1, 2), "shard's rank must be an integer >= 0, not -1"),
    ((True, 2), "shard's rank must be an integer >= 0, not True"),
    ((0.5, 2), "shard's rank must be an integer >= 0, not 0.5"),
    (3, "shard must be (rank, world_size), not 3"),
    ((1, 2, 3), "shard must be (rank, world_size), not (1, 2, 3)"),
])
def test_a_bad_shard_is_named(shard, message):
    """Either side of each bound (rank 0 and world 1 pass: the split tests above),
    and the exact message, saying what was wrong."""
    with pytest.raises(ValueError) as e:
        RenderDataset(None, frames=4, shard=shard)
    assert str(e.value) == message


@pytest.mark.parametrize("epoch", [-1, 1.5, True])
def test_a_bad_epoch_is_named(epoch):
    d = RenderDataset(None, frames=4)
    with pytest.raises(ValueError) as e:
        d.set_epoch(epoch)
    assert str(e.value) == f"epoch must be an integer >= 0, not {epoch!r}"
    d.set_epoch(0)
    assert d.epoch == 0


@settings(max_examples=30, **SETTINGS)
@given(n=st.integers(0, 40), world=st.integers(2, 4), data=st.data())
def test_a_pickled_dataset_keeps_its_processs_rank(n, world, data):
    """A spawned loader worker gets the dataset pickled in a process of a
    torch.distributed group (simulated: blendarray.torch's group lookup answers
    (rank, world) while pickling, (0, 1) after): it yields rank's share P[rank::world],
    not the whole epoch. Reference: the model's share."""
    import blendarray.torch as bt
    rank = data.draw(st.integers(0, world - 1), label="rank")
    real = bt._distributed
    ds = Unrendered(None, frames=n, shuffle=True, seed=3)
    try:
        bt._distributed = lambda: (rank, world)
        blob = pickle.dumps(ds)
    finally:
        bt._distributed = real
    got = pickle.loads(blob)
    assert [int(i) for i in got.indices()] == epoch_order(n, True, 3, 0)[rank::world]
    assert len(got) == len(range(rank, n, world))
