"""`blendarray render --shards DIR`: WebDataset shards, read back by the webdataset
package and by Python's tarfile; resumed after SIGKILL, byte for byte equal to an
uninterrupted run; refusals that say what to do."""
import io
import json
import os
import signal
import subprocess
import tarfile
import time

import numpy as np
import pytest

from test_faults_cli import Cli, small_filesystem

HERE = os.path.dirname(os.path.abspath(__file__))
RANDOMIZE = os.path.join(HERE, "randomize.py")
# what a sample's JSON leaves out: not a function of (seed, index)
NOT_STORED = {"render_seconds", "capture_seconds", "display_seconds", "worker"}
ARGS = ["-e", "workbench", "--size", "64x48", "-p", "rgba,depth", "--display",
        "--setup", RANDOMIZE, "--seed", "7"]


def run(cli, *args, env=None, cwd=None):
    return subprocess.run([cli, *map(str, args)], capture_output=True, timeout=600,
                          env=dict(os.environ, **(env or {})), cwd=cwd)


def lines(p):
    return [x for x in p.stderr.decode().splitlines() if x.startswith("blendarray: ")]


def files(d):
    """Every file of the folder, by name: its bytes (the lock file is empty anyway)."""
    return {n: (d / n).read_bytes() for n in sorted(os.listdir(d))}


def index(d):
    return [json.loads(x) for x in (d / "shards.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def whole(cli, demo_blend, tmp_path_factory):
    """7 samples in shards of 3 (the last one short), and the same run as an .npz."""
    d = tmp_path_factory.mktemp("whole")
    p = run(cli, "render", demo_blend(), "-n", 7, *ARGS, "--shards", d / "s", "--shard-size", 3)
    assert p.returncode == 0, p.stderr.decode()
    p2 = run(cli, "render", demo_blend(), "-n", 7, *ARGS, "-q", "-o", d / "all.npz")
    assert p2.returncode == 0, p2.stderr.decode()
    with np.load(d / "all.npz") as z:
        arrays = {k: z[k] for k in z.files}
    return d / "s", arrays, p.stderr.decode()


def test_shards_hold_the_run_as_webdataset_reads_it(whole):
    import webdataset as wds
    from PIL import Image
    d, npz, stderr = whole
    names = sorted(n for n in os.listdir(d) if n.endswith(".tar"))
    assert names == ["shard-000000.tar", "shard-000001.tar", "shard-000002.tar"]
    assert [e["shard"] for e in index(d)] == names
    assert [e["samples"] for e in index(d)] == [3, 3, 1]
    metas = json.loads(npz["meta.json"])
    ds = wds.WebDataset([str(d / n) for n in names], shardshuffle=False).decode()
    samples = list(ds)
    assert [s["__key__"] for s in samples] == [f"{i:09d}" for i in range(7)]
    for i, s in enumerate(samples):
        assert sorted(k for k in s if not k.startswith("__")) == [
            "depth.npy", "display.png", "json", "rgba.npy"], s.keys()
        for p in ("rgba", "depth"):
            got = s[f"{p}.npy"]
            assert got.dtype == npz[p].dtype and np.array_equal(got, npz[p][i]), (i, p)
        png = s["display.png"]
        img = np.asarray(Image.open(io.BytesIO(png)) if isinstance(png, bytes) else png)
        assert np.array_equal(img, npz["display"][i]), i
        want = {k: v for k, v in metas[i].items() if k not in NOT_STORED}
        assert s["json"] == want, i
    # the progress said what was written
    assert "blendarray: " in stderr and "3 shards, 7 samples" in stderr, stderr


def test_members_are_plain_ustar(whole):
    """Python's tarfile (an independent reader) sees each sample's members in order."""
    d = whole[0]
    with tarfile.open(d / "shard-000002.tar") as t:
        members = t.getmembers()
        assert [m.name for m in members] == ["000000006.rgba.npy", "000000006.depth.npy",
                                             "000000006.display.png", "000000006.json"]
        assert all(m.isfile() and m.mtime == 0 and m.uid == 0 for m in members)
        meta = json.load(t.extractfile("000000006.json"))
    assert meta["index"] == 6 and "worker" not in meta


def _kill_when(cli, args, d, tmp_path, shards, env):
    """Run, SIGKILL the CLI once `shards` shards are complete and the next is half
    written; its workers go with it (PR_SET_PDEATHSIG)."""
    tmp_path.mkdir()
    with Cli(cli, args, tmp_path, env=env) as c:
        c.wait_for(f"{shards} complete shards", lambda: (d / "shards.jsonl").exists() and
                   len(index(d)) >= shards, 300)
        time.sleep(0.35)  # two or three frames into the next shard (0.15 s each)
        assert c.p.poll() is None, c.stderr
        c.p.send_signal(signal.SIGKILL)
        c.p.wait()
        c.stop()
    assert len(index(d)) in (shards, shards + 1)
    return len(index(d))


def test_killed_twice_and_resumed_equals_an_uninterrupted_run(cli, demo_blend, tmp_path):
    n = ["-n", 20, "--shard-size", 4]
    ref = tmp_path / "ref"
    p = run(cli, "render", demo_blend(), *n, *ARGS, "-q", "--shards", ref)
    assert p.returncode == 0, p.stderr.decode()
    d = tmp_path / "d"
    slow = {"BA_TEST_FRAME_SECONDS": "0.15"}
    args = ["render", demo_blend(), *n, *ARGS, "-q", "--shards", d]
    first = _kill_when(cli, args, d, tmp_path / "a", 1, slow)
    # what a kill leaves: complete shards listed, a temporary shard, nothing else
    assert sorted(x for x in os.listdir(d) if x.endswith(".tar")) == [
        f"shard-{k:06d}.tar" for k in range(first)]
    second = _kill_when(cli, [*args, "--resume", "-w", 2], d, tmp_path / "b", first + 2, slow)
    assert second > first
    p = run(cli, *args, "--resume")
    assert p.returncode == 0, p.stderr.decode()
    assert files(d) == files(ref)
    assert not [x for x in os.listdir(d) if x.startswith(".shard")]


def test_resume_refuses_other_parameters(cli, demo_blend, whole, tmp_path):
    import shutil
    d = tmp_path / "s"
    shutil.copytree(whole[0], d)
    before = files(d)
    base = ["render", demo_blend(), "-n", 7, "--shards", d, "--shard-size", 3]
    p = run(cli, *base, *[a if a != "7" else "8" for a in ARGS], "--resume")
    assert p.returncode == 1 and "seed" in lines(p)[0], p.stderr.decode()
    p = run(cli, *base, *ARGS)  # no --resume: the dataset is not overwritten
    assert p.returncode == 1 and "--resume" in lines(p)[0], p.stderr.decode()
    p = run(cli, "render", demo_blend(), "-n", 7, "--shards", d, "--shard-size", 2, *ARGS,
            "--resume")
    assert p.returncode == 1 and "2" in lines(p)[0], p.stderr.decode()
    p = run(cli, *base, *ARGS, "--dtype", "float16", "--resume")  # the same frames, stored otherwise
    assert p.returncode == 1 and "float16" in lines(p)[0], p.stderr.decode()
    assert files(d) == before
    # a damaged shard: named, and nothing rewritten
    with open(d / "shard-000001.tar", "r+b") as f:
        f.truncate(1000)
    p = run(cli, *base, *ARGS, "--resume")
    assert p.returncode == 1 and "shard-000001.tar" in lines(p)[0], p.stderr.decode()
    assert (d / "shard-000001.tar").stat().st_size == 1000
    assert files(d)["shard-000000.tar"] == before["shard-000000.tar"]


def test_a_folder_that_is_not_a_dataset_is_refused(cli, demo_blend, tmp_path):
    (tmp_path / "s").mkdir()
    (tmp_path / "s" / "notes.txt").write_text("mine")
    p = run(cli, "render", demo_blend(), "-n", 2, *ARGS, "--shards", tmp_path / "s")
    assert p.returncode == 1 and "not a blendarray shard folder" in lines(p)[0], p.stderr.decode()
    assert os.listdir(tmp_path / "s") == ["notes.txt"]


def test_disk_full_keeps_the_complete_shards(cli, demo_blend, tmp_path):
    mnt = tmp_path / "small"
    small_filesystem(mnt, "160k")  # room for a few 64x48 samples, not for 12
    try:
        d = mnt / "s"
        p = run(cli, "render", demo_blend(), "-n", 12, *ARGS, "-q", "--shards", d,
                "--shard-size", 2)
        assert p.returncode == 1, p.stderr.decode()
        out = lines(p)
        assert "No space left" in out[0], out
        done = index(d)
        assert out[-1].endswith("nothing partial left; the same command with --resume renders "
                                "the rest"), out
        assert sorted(x for x in os.listdir(d) if not x.startswith(".")) == sorted(
            ["dataset.json", "shards.jsonl"] + [e["shard"] for e in done])
        for e in done:  # each listed shard whole
            with tarfile.open(d / e["shard"]) as t:
                assert len(t.getmembers()) == 4 * e["samples"]
        assert not [x for x in os.listdir(d) if x.startswith(".shard")]
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


@pytest.mark.parametrize("args, says", [
    (["--resume", "-o", "x.npz"], "--resume goes with --shards DIR"),
    (["--shard-size", "5", "-o", "x.npz"], "--shard-size goes with --shards DIR"),
    (["--coco"], "--coco wants a folder (--coco DIR), or goes with --shards DIR"),
    (["--shards", "d", "-o", "x.npz"], "-o does not go with it"),
    (["--shards", "d", "--coco", "c"], "--coco alone adds a COCO file per shard"),
    (["--shards", "d", "--force"], "never overwritten"),
    (["--shards", "d", "--shard-size", "0"], "--shard-size wants an integer 1..2147483647"),
    (["--shards", "d", "--shard-bytes", "1X"], "--shard-bytes wants a size in bytes >= 1"),
    (["--shards", "d", "--shard-bytes", "0"], "--shard-bytes wants a size in bytes >= 1"),
    (["-o", "x.npz", "--max-worker-memory", "-3"], "--max-worker-memory wants a size in bytes"),
    (["-o", "x.npz", "--max-worker-frames", "-1"], "--max-worker-frames wants an integer >= 0"),
])
def test_usage_errors(cli, tmp_path, args, says):
    p = run(cli, "render", "-n", 2, *args, cwd=tmp_path)
    assert p.returncode == 2, p.stderr.decode()
    assert says in lines(p)[0], lines(p)
    assert os.listdir(tmp_path) == []
