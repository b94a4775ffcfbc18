"""`blendarray render --coco DIR`: a COCO dataset (images/NNNNNN.png and
annotations.json) read back with pycocotools and checked against sources that
share nothing with the export:

- masks: Blender's own object-index pass (IndexOB), rendered through the Python
  API. In the demo scene every object has its own pass_index (its category), and
  with Cycles at 1 sample the object-index pass and Cryptomatte's rank 0 come
  from the same sample, so each mask must equal `object_index == pass_index`
  exactly;
- images: the display arrays of the same run's .npz, decoded by PIL;
- boxes and areas: pycocotools' own toBbox and the mask's sum.

And the failures: a non-empty folder without --force, Workbench (no
Cryptomatte), Ctrl-C: nothing half-written is ever left."""
import json
import os
import signal
import subprocess
import time

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

import blendarray as ba
from support import PACKAGE_DIR as ROGUE_PYTHONPATH
from test_bad_input import ROGUE
from test_faults_cli import Cli, _lines

ARGS = ["-e", "cycles", "-s", "1", "--size", "64x48", "-f", "1-3", "-q"]
PASS_INDEX = {"Ground": 1, "RedCube": 2, "GreenSphere": 3, "BlueCone": 4}  # scenes.DEMO_OBJECTS


def run(cli, *args, cwd=None):
    return subprocess.run([cli, *map(str, args)], capture_output=True, text=True, cwd=cwd,
                          env=dict(os.environ, TMPDIR=os.environ.get("TMPDIR", "/tmp")))


def leftovers(d):
    """Temporary folders of --coco (".NAME.coco-PID-XXXXXX") in d."""
    return [n for n in os.listdir(d) if ".coco-" in n]


def test_coco_masks_equal_blenders_object_index(cli, demo_blend, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "old.txt").write_text("replaced by --force")
    r = run(cli, "render", demo_blend(), *ARGS, "--coco", out, "-o", tmp_path / "run.npz",
            "--force")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(out)) == ["annotations.json", "images"]
    assert sorted(os.listdir(out / "images")) == ["000000.png", "000001.png", "000002.png"]
    assert leftovers(tmp_path) == []

    coco = COCO(str(out / "annotations.json"))
    doc = json.loads((out / "annotations.json").read_text())
    version = run(cli, "--version").stdout.split()[-1]
    assert doc["info"]["version"] == version and doc["info"]["date_created"]
    assert sorted(coco.cats) == [1, 2, 3, 4]
    for c in coco.cats.values():
        assert c["keypoints"] == [f"corner_{i}" for i in range(8)]
        assert len(c["skeleton"]) == 12
    assert [coco.imgs[i]["frame"] for i in (0, 1, 2)] == [1, 2, 3]

    # images: the display arrays of the same run, exactly
    with np.load(tmp_path / "run.npz") as z:
        display = z["display"]
    for i in range(3):
        img = coco.imgs[i]
        assert (img["width"], img["height"]) == (64, 48)
        png = np.asarray(Image.open(out / img["file_name"]).convert("RGBA"))
        assert np.array_equal(png, display[i]), i

    # masks: Blender's object-index pass, an independent render through the Python API
    with ba.Renderer(demo_blend(), passes=["object_index"], engine="CYCLES", samples=1,
                     resolution=(64, 48)) as rd:
        index = [np.squeeze(f["object_index"]) for f in rd.frames([1, 2, 3])]
    seen = set()
    assert len(coco.anns) == 12  # four objects in each of three frames
    for ann in coco.anns.values():
        name = ann["blendarray"]["name"]
        want = index[ann["image_id"]] == PASS_INDEX[name]
        got = coco.annToMask(ann)
        assert got.shape == want.shape
        assert np.array_equal(got.astype(bool), want), (name, ann["image_id"],
                                                        int((got != want).sum()))
        assert ann["category_id"] == PASS_INDEX[name]
        assert ann["area"] == int(want.sum()) > 0
        rle = mask_util.encode(np.asfortranarray(want.astype(np.uint8)))
        assert ann["bbox"] == mask_util.toBbox(rle).tolist()
        assert ann["iscrowd"] == 0
        assert len(ann["keypoints"]) == 24
        assert ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
        seen.add((ann["image_id"], name))
    assert seen == {(i, n) for i in range(3) for n in PASS_INDEX}
    assert sorted(a["id"] for a in coco.anns.values()) == list(range(1, 13))

    # inspect sums the labels up
    r = run(cli, "inspect", tmp_path / "run.npz")
    assert r.returncode == 0, r.stderr
    assert "  labels: 3 frames, 12 instances; by category: 1=3, 2=3, 3=3, 4=3" in r.stdout


def test_coco_alone_into_an_empty_folder(cli, demo_blend, tmp_path):
    out = tmp_path / "empty"
    out.mkdir()
    r = run(cli, "render", demo_blend(), *ARGS[:-3], "-f", "1", "--coco", f"{out}/")
    assert r.returncode == 0, r.stderr
    assert sorted(os.listdir(tmp_path)) == ["empty"]  # no .npz, nothing else
    assert sorted(os.listdir(out / "images")) == ["000000.png"]
    assert len(COCO(str(out / "annotations.json")).anns) == 4


def test_coco_refuses_a_folder_with_files(cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = run(cli, "render", *ARGS, "--coco", out)
    assert r.returncode == 1
    assert _lines(r.stderr) == [f"blendarray: --coco {out} exists and is not empty "
                                "(use --force to replace it)"], r.stderr
    assert os.listdir(out) == ["keep.txt"] and (out / "keep.txt").read_text() == "mine"
    assert sorted(os.listdir(tmp_path)) == ["out"]
    # a file is not a folder, --force or not
    f = tmp_path / "file"
    f.write_text("x")
    r = run(cli, "render", *ARGS, "--coco", f, "--force")
    assert r.returncode == 1 and "exists and is not a folder" in r.stderr, r.stderr
    assert f.read_text() == "x"


def test_coco_on_workbench_is_a_clear_error(cli, tmp_path):
    out = tmp_path / "out"
    r = run(cli, "render", "-e", "workbench", "--size", "64x48", "--coco", out)
    assert r.returncode == 1
    assert "Workbench" in r.stderr and "Cryptomatte" in r.stderr, r.stderr
    assert os.listdir(tmp_path) == []


def test_ctrl_c_leaves_no_coco_folder(cli, demo_blend, tmp_path):
    out = tmp_path / "out"
    slow = ["-e", "cycles", "-s", "300", "--size", "96x72", "--threads", "1", "-f", "1-60", "-q"]
    with Cli(cli, ["render", demo_blend("slow"), *slow, "--coco", out], tmp_path) as run_:
        def written():
            return any(os.listdir(tmp_path / n / "images") for n in leftovers(tmp_path))
        run_.wait_for("a frame written", written, 60)
        run_.p.send_signal(signal.SIGINT)
        t0 = time.time()
        rc = run_.wait(30)
        # the frames in flight take minutes: stopped, not waited for (generous: a loaded
        # machine takes seconds to reap two Blenders)
        assert time.time() - t0 < 15, "Ctrl-C waited for the frames in flight"
        assert rc == 130, run_.stderr
        run_.assert_clean()
        lines = _lines(run_.stderr)
    assert len(lines) == 1 and lines[0].startswith("blendarray: interrupted: workers stopped; "
                                                   f"{out} was not written ("), lines
    assert leftovers(tmp_path) == [] and not out.exists()


def test_coco_of_the_known_answer_scene(cli, demo_blend, tmp_path):
    """tests/scenes/make_scenes.py labels(): Box (category 5, "box") and Mover
    (pass_index 3) at known pixels; Plain has no category: left out, and said so."""
    out = tmp_path / "out"
    r = run(cli, "render", demo_blend("labels"), "-e", "cycles", "-f", "1-2", "--coco", out)
    assert r.returncode == 0, r.stderr
    assert ("blendarray: note: 2 instances without a category left out of "
            f"{out}/annotations.json") in r.stderr, r.stderr
    coco = COCO(str(out / "annotations.json"))
    assert [(c["id"], c["name"]) for c in coco.cats.values()] == [(3, "3"), (5, "box")]
    got = sorted((a["image_id"], a["blendarray"]["name"], a["category_id"], a["bbox"], a["area"])
                 for a in coco.anns.values())
    assert got == [(0, "Box", 5, [12, 12, 16, 16], 256), (0, "Mover", 3, [35, 35, 20, 10], 200),
                   (1, "Box", 5, [12, 12, 16, 16], 256), (1, "Mover", 3, [40, 38, 20, 10], 200)]
    for a in coco.anns.values():
        x, y, w, h = a["bbox"]
        want = np.zeros((60, 80), np.uint8)
        want[y:y + h, x:x + w] = 1
        assert np.array_equal(coco.annToMask(a), want)


def test_annotations_flag_puts_labels_in_meta_json(cli, demo_blend, tmp_path):
    out = tmp_path / "l.npz"
    r = run(cli, "render", demo_blend("labels"), "-e", "cycles", "-f", "1", "-p", "rgba",
            "--annotations", "-o", out)
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        meta = json.loads(z["meta.json"])
        assert sorted(z.files) == ["cryptomatte_object_00", "meta.json", "rgba"]
    got = {i["name"]: (i["bbox"], i["area"], i["category_id"])
           for i in meta[0]["annotations"]["instances"]}
    assert got == {"Box": ([12, 12, 16, 16], 256, 5), "Mover": ([35, 35, 20, 10], 200, 3),
                   "Plain": ([65, 5, 10, 10], 100, None)}
    r = run(cli, "render", "-e", "workbench", "--annotations", "-o", tmp_path / "w.npz")
    assert r.returncode == 1 and "Workbench" in r.stderr and not (tmp_path / "w.npz").exists()


# The worker's labels are checked field by field before anything is kept: a worker
# (tests/python/rogue_worker.py, mode "labels": a 4x4 display and the annotations
# given) that sends a malformed one makes the CLI fail with what was wrong, and
# leaves no folder. A well-formed one gives a dataset pycocotools reads back.

def _good_instance():
    m = np.zeros((4, 4), np.uint8)
    m[1:3, 0:3] = 1
    rle = mask_util.encode(np.asfortranarray(m))
    return {"id": 7, "name": "Thing", "category_id": 2, "area": 6, "bbox": [0, 1, 3, 2],
            "segmentation": {"size": [4, 4], "counts": rle["counts"].decode()},
            "keypoints": [1.5, 2.0, 2] * 8}, m


def _labels(insts, **over):
    return dict({"instances": insts, "categories": [{"id": 2, "name": "thing"}],
                 "keypoints": {"names": [f"corner_{i}" for i in range(8)], "skeleton": [[1, 2]]},
                 "instance_pass": "cryptomatte_object_00"}, **over)


def _rogue_coco(cli, tmp_path, labels):
    env = dict(os.environ, ROGUE="labels", ROGUE_PYTHONPATH=ROGUE_PYTHONPATH,
               ROGUE_LABELS=json.dumps(labels), TMPDIR=str(tmp_path))
    return subprocess.run([cli, "render", "--blender", ROGUE, "-n", "2", "-q", "--coco",
                           str(tmp_path / "coco")], env=env, capture_output=True, text=True,
                          timeout=60)


def test_coco_from_a_worker_with_well_formed_labels(cli, tmp_path):
    inst, m = _good_instance()
    p = _rogue_coco(cli, tmp_path, _labels([inst]))
    assert p.returncode == 0, p.stderr
    coco = COCO(str(tmp_path / "coco" / "annotations.json"))
    assert sorted(coco.getImgIds()) == [0, 1] and len(coco.getAnnIds()) == 2
    for a in coco.loadAnns(coco.getAnnIds()):
        assert (coco.annToMask(a) == m).all() and a["area"] == 6 and a["bbox"] == [0, 1, 3, 2]
    assert sorted(os.listdir(tmp_path)) == ["coco"]


def _bad_cases():
    inst, _ = _good_instance()
    seg = inst["segmentation"]
    yield "annotations not an object", [], "no \"annotations\" object"
    yield "instances not a list", _labels({"a": 1}), "\"instances\" is not a list"
    yield "category without a name", _labels([inst], categories=[{"id": 2}]), \
        "category 0 is not {\"id\": integer, \"name\": text}"
    for field, value, message in [
            ("id", 0, "\"id\" is not a uint32 > 0"),
            ("id", 2 ** 32, "\"id\" is not a uint32 > 0"),
            ("name", None, "\"name\" is not text"),
            ("category_id", "2", "\"category_id\" is neither an integer nor null"),
            ("area", 17, "\"area\" is not a pixel count"),
            ("area", 5, "\"area\" is not the mask's pixel count"),
            ("bbox", [0, 1, 3], "\"bbox\" is not 4 numbers"),
            ("segmentation", dict(seg, size=[4, 5]), "\"segmentation\" is not {\"size\": [H, W]"),
            ("segmentation", dict(seg, counts="\x01"), "\"segmentation\" counts are not COCO RLE"),
            ("segmentation", dict(seg, counts=seg["counts"] + "1"), "\"segmentation\" counts do not cover the image"),
            ("keypoints", [1.0, 2.0], "\"keypoints\" is not a list of x, y, v triples")]:
        yield f"{field} {value!r}", _labels([inst, dict(inst, **{field: value})]), \
            f"instance 1: {message}"


BAD = list(_bad_cases())


@pytest.mark.parametrize("labels, message", [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_coco_refuses_malformed_labels_from_a_worker(cli, tmp_path, labels, message):
    p = _rogue_coco(cli, tmp_path, labels)
    assert p.returncode == 1, p.stderr
    assert "malformed labels in its metadata: " + message in p.stderr, p.stderr
    assert os.listdir(tmp_path) == [], "nothing of the COCO folder is left"
