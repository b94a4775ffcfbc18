"""blendarray.labels.CocoWriter and write_coco (libblendarray's ba_coco_writer),
read back with pycocotools and checked against sources that share nothing with
the writer:

- masks: Blender's own object-index pass of the same render. In the demo scene
  every object has its own pass_index (its category), and with Cycles at 1
  sample the object-index pass and Cryptomatte's rank 0 come from the same
  sample, so each mask must equal `object_index == pass_index` exactly;
- images: the frames' display arrays, decoded from the PNGs by PIL;
- boxes and areas: pycocotools' toBbox and area of the mask.

And the refusals: frames without the display image or the labels, a folder that
is a file or holds files, an exception inside the `with`: nothing half-written is
ever left."""
import json
import os

import numpy as np
import pytest
from PIL import Image
from pycocotools import mask as mask_util
from pycocotools.coco import COCO

import blendarray as ba
from blendarray import labels

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:pycocotools")

PASS_INDEX = {"Ground": 1, "RedCube": 2, "GreenSphere": 3, "BlueCone": 4}  # scenes.DEMO_OBJECTS
FRAMES = [1, 12, 40]  # the cube turns: each frame its own masks


def leftovers(d):
    """Temporary folders of a COCO writer (".NAME.coco-PID-XXXXXX") in d."""
    return [n for n in os.listdir(d) if ".coco-" in n]


def test_write_coco_of_rendered_frames(scenes, flavour, warm, tmp_path):
    r = warm(flavour, scenes("demo"), passes=["object_index"], annotations=True, display=True)
    frames = list(r.frames([{"frame": f, "engine": "CYCLES", "samples": 1,
                             "resolution": [64, 48]} for f in FRAMES]))
    out = tmp_path / "coco"
    path = labels.write_coco(frames, out)
    assert path == os.path.join(str(out), "annotations.json")
    assert sorted(os.listdir(tmp_path)) == ["coco"]
    assert sorted(os.listdir(out)) == ["annotations.json", "images"]
    assert sorted(os.listdir(out / "images")) == ["000000.png", "000001.png", "000002.png"]

    coco = COCO(path)
    doc = json.loads((out / "annotations.json").read_text())
    assert doc["info"]["version"] == ba.__version__ and doc["info"]["date_created"]
    assert sorted(coco.cats) == [1, 2, 3, 4]
    assert [coco.imgs[i]["frame"] for i in range(3)] == FRAMES
    for i, f in enumerate(frames):
        img = coco.imgs[i]
        assert (img["width"], img["height"]) == (64, 48)
        png = np.asarray(Image.open(out / img["file_name"]).convert("RGBA"))
        assert np.array_equal(png, f["display"]), i
    assert len(coco.anns) == 12  # four objects in each of three frames
    seen = set()
    for ann in coco.anns.values():
        name, image = ann["blendarray"]["name"], ann["image_id"]
        want = np.squeeze(frames[image]["object_index"]) == PASS_INDEX[name]
        got = coco.annToMask(ann).astype(bool)
        assert np.array_equal(got, want), (name, image, int((got != want).sum()))
        rle = mask_util.encode(np.asfortranarray(want.astype(np.uint8)))
        assert ann["bbox"] == mask_util.toBbox(rle).tolist()
        assert ann["area"] == int(mask_util.area(rle)) > 0
        assert ann["category_id"] == PASS_INDEX[name] and ann["iscrowd"] == 0
        assert ann["num_keypoints"] == sum(v > 0 for v in ann["keypoints"][2::3])
        seen.add((image, name))
    assert seen == {(i, n) for i in range(3) for n in PASS_INDEX}
    assert sorted(coco.anns) == list(range(1, 13))

    # the same frames as Ray rows (meta as JSON text), one by one, with given image ids
    rows = [{"display": f["display"], "meta": json.dumps(f.meta)} for f in frames]
    with labels.CocoWriter(tmp_path / "rows") as w:
        for i, row in enumerate(rows):
            w.add(row, image_id=100 + i)
        assert w.images == 3 and w.annotations == 12
    again = COCO(str(tmp_path / "rows" / "annotations.json"))
    assert sorted(again.imgs) == [100, 101, 102]
    for a, b in zip(sorted(coco.anns.values(), key=lambda a: a["id"]),
                    sorted(again.anns.values(), key=lambda a: a["id"])):
        assert a["segmentation"] == b["segmentation"] and b["image_id"] == a["image_id"] + 100
    assert leftovers(tmp_path) == []


# -- without Blender: frames made here, their labels by pycocotools ------------------

def _frame(seed, h=6, w=8, category=2):
    """A frame as blendarray makes them: a display image and the labels of one
    instance (its mask random, encoded by pycocotools), in its meta."""
    rng = np.random.default_rng(seed)
    m = rng.random((h, w)) < 0.4
    m[0, 0] = True
    rle = mask_util.encode(np.asfortranarray(m.astype(np.uint8)))
    inst = {"id": 11 + seed, "name": f"obj{seed}", "category_id": category,
            "area": int(m.sum()), "bbox": mask_util.toBbox(rle).tolist(),
            "segmentation": {"size": [h, w], "counts": rle["counts"].decode()},
            "keypoints": [1.0, 2.0, 2, -5.0, 1.0, 1]}
    meta = {"frame": 100 + seed, "annotations": {
        "instances": [inst], "categories": [{"id": 2, "name": "thing"}],
        "keypoints": {"names": ["a", "b"], "skeleton": [[1, 2]]},
        "instance_pass": "cryptomatte_object_00"}}
    display = rng.integers(0, 256, (h, w, 4), dtype=np.uint8)
    return ba.Frame({"display": display}, meta), m


def test_masks_and_images_read_back(tmp_path):
    frames = [_frame(i) for i in range(4)]
    frames[2][0].meta["annotations"]["instances"][0]["category_id"] = None  # left out
    with pytest.warns(ba.BlendArrayWarning, match="1 instance.*without a category"):
        path = ba.write_coco([f for f, _ in frames], tmp_path / "d", info={"description": "x"})
    coco = COCO(path)
    assert coco.dataset["info"]["description"] == "x"
    assert [c["name"] for c in coco.cats.values()] == ["thing"]
    assert sorted(a["image_id"] for a in coco.anns.values()) == [0, 1, 3]
    for ann in coco.anns.values():
        f, m = frames[ann["image_id"]]
        assert np.array_equal(coco.annToMask(ann).astype(bool), m)
        assert ann["blendarray"] == {"name": f"obj{ann['image_id']}",
                                     "instance_id": 11 + ann["image_id"]}
        img = coco.imgs[ann["image_id"]]
        assert img["frame"] == 100 + ann["image_id"]
        png = np.asarray(Image.open(tmp_path / "d" / img["file_name"]).convert("RGBA"))
        assert np.array_equal(png, f["display"])


def test_frames_without_display_or_labels_say_which_option(tmp_path):
    f, _ = _frame(0)
    out = tmp_path / "d"
    with pytest.raises(ValueError, match="no 'display' array.*display=True"):
        labels.write_coco([ba.Frame({"rgba": np.zeros((6, 8, 4), np.float32)}, f.meta)], out)
    meta = {k: v for k, v in f.meta.items() if k != "annotations"}
    with pytest.raises(ValueError, match="no annotations.*annotations=True"):
        labels.write_coco([ba.Frame({"display": f["display"]}, meta)], out)
    with pytest.raises(ValueError, match=r"'display' is float32 \(6, 8, 4\)"):
        labels.write_coco([{"display": f["display"].astype(np.float32), "meta": f.meta}], out)
    assert os.listdir(tmp_path) == []  # nothing of either dataset


def test_malformed_labels_are_refused_and_the_writer_goes_on(tmp_path):
    f, _ = _frame(0)
    bad = json.loads(json.dumps(f.meta))
    bad["annotations"]["instances"][0]["area"] += 1
    with labels.CocoWriter(tmp_path / "d") as w:
        with pytest.raises(ValueError, match=r"frame 100: malformed labels in its metadata: "
                                             r"instance 0: \"area\" is not the mask's pixel"):
            w.add({"display": f["display"], "meta": bad})
        small = {"display": f["display"][:3], "meta": f.meta}  # masks of another size
        with pytest.raises(ValueError, match="segmentation.*size"):
            w.add(small)
        w.add(f)
        w.add(f, image_id=7)
        with pytest.raises(ValueError, match="image id 7 was given to an earlier image"):
            w.add(f, image_id=7)
    assert sorted(COCO(str(tmp_path / "d" / "annotations.json")).imgs) == [0, 7]


def test_folder_refusals_leave_everything_as_it_was(tmp_path):
    f, _ = _frame(1)
    full = tmp_path / "full"
    full.mkdir()
    (full / "mine.txt").write_text("keep")
    with pytest.raises(ba.BlendArrayError, match="exists and is not empty.*overwrite=True"):
        labels.CocoWriter(full)
    file = tmp_path / "file"
    file.write_text("x")
    with pytest.raises(ba.BlendArrayError, match="exists and is not a folder"):
        labels.CocoWriter(file, overwrite=True)
    with pytest.raises(ba.BlendArrayError, match=r"cannot make the folder .*/file for the COCO "
                                                 r"dataset .*/file/d: File exists"):
        labels.CocoWriter(file / "d")  # a folder above it is a file
    assert (full / "mine.txt").read_text() == "keep" and file.read_text() == "x"
    assert sorted(os.listdir(tmp_path)) == ["file", "full"]
    # overwrite: replaced at the end, and only then
    with labels.CocoWriter(full, overwrite=True) as w:
        w.add(f)
        assert (full / "mine.txt").exists()
    assert sorted(os.listdir(full)) == ["annotations.json", "images"]
    assert sorted(os.listdir(tmp_path)) == ["file", "full"]


def test_missing_folders_above_the_dataset_are_made(tmp_path, monkeypatch):
    """write_coco(frames, "out/coco") with no out/ yet: made, as `mkdir -p` would."""
    f, _ = _frame(4)
    monkeypatch.chdir(tmp_path)
    path = labels.write_coco([f], "out/coco")
    assert path == os.path.join("out", "coco", "annotations.json")
    assert sorted(os.listdir(tmp_path / "out" / "coco")) == ["annotations.json", "images"]
    with labels.CocoWriter(tmp_path / "a" / "b" / "c") as w:
        w.add(f)
    assert len(COCO(str(tmp_path / "a" / "b" / "c" / "annotations.json")).imgs) == 1


def test_an_exception_in_the_with_leaves_nothing(tmp_path):
    f, _ = _frame(2)
    with pytest.raises(KeyError, match="stop"):
        with labels.CocoWriter(tmp_path / "d") as w:
            w.add(f)
            assert leftovers(tmp_path)  # filled beside it meanwhile
            raise KeyError("stop")
    assert os.listdir(tmp_path) == []
    w = labels.CocoWriter(tmp_path / "e")  # abort() without a with
    w.add(f)
    w.abort()
    w.abort()
    assert os.listdir(tmp_path) == []
    with pytest.raises(ba.BlendArrayError, match="closed"):
        w.add(f)


def test_folders_of_killed_writers_are_swept(tmp_path):
    dead = tmp_path / ".d.coco-999999999-abcdef"  # a pid no process has
    (dead / "images").mkdir(parents=True)
    live = tmp_path / f".d.coco-{os.getpid()}-abcdef"
    live.mkdir()
    other = tmp_path / ".e.coco-999999999-abcdef"  # beside another dataset: not ours
    other.mkdir()
    f, _ = _frame(3)
    labels.write_coco([f], tmp_path / "d")
    assert sorted(os.listdir(tmp_path)) == sorted(["d", live.name, other.name])
