"""Labels (docs/labels.md) against independent references: known-answer
scenes (boxes, areas, flow built to be exact), Blender's own object-index
pass and pycocotools (masks, RLE, areas, boxes), Blender's own
world_to_camera_view (projected corners) and the Cryptomatte manifests in
Blender's own EXR header."""
import json
import os

import numpy as np
import OpenEXR
import pycocotools.mask as mask_util
import pytest

import blendarray as ba
import blendarray.labels as ba_labels
from support import SCRIPTS, In, Out, blender_kw, blender_output

HOOKS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "hooks.py")
CV = np.diag([1.0, -1.0, -1.0, 1.0])
# tests/scenes/make_scenes.py: labels(): frame 1 (the mover goes 5 px right, 3 down a frame)
KNOWN = {"Box": ([12, 12, 16, 16], 256, 5), "Mover": ([35, 35, 20, 10], 200, 3),
         "Plain": ([65, 5, 10, 10], 100, None)}


def _by_name(frame):
    return {i["name"]: i for i in frame.meta["annotations"]["instances"]}


def _mask(inst):
    return mask_util.decode(inst["segmentation"]).astype(bool)


@pytest.mark.matrix(engines=["CYCLES"])
@pytest.mark.parametrize("engine", ["CYCLES", "EEVEE"])
def test_known_boxes_areas_and_categories(scenes, flavour, engine, warm):
    f = warm(flavour, scenes("labels"), passes=["rgba"], annotations=True).render(frame=1,
                                                                                  engine=engine)
    got = _by_name(f)
    assert sorted(got) == sorted(KNOWN)
    for name, (bbox, area, cat) in KNOWN.items():
        i = got[name]
        assert (i["bbox"], i["area"], i["category_id"]) == (bbox, area, cat), name
        m = _mask(i)
        x, y, w, h = bbox
        want = np.zeros((60, 80), bool)
        want[y:y + h, x:x + w] = True
        assert (m == want).all(), name  # the whole rectangle, nothing else
    ann = f.meta["annotations"]
    assert ann["categories"] == [{"id": 3, "name": "3"}, {"id": 5, "name": "box"}]
    assert ann["instance_pass"] == "cryptomatte_object_00" and "cryptomatte_object_00" in f
    ids = f["cryptomatte_object_00"][..., 0].view(np.uint32)
    for i in ann["instances"]:  # the documented way to get a mask back from the pass
        assert ((ids == i["id"]) == _mask(i)).all()
    assert [i["id"] for i in ann["instances"]] == sorted(i["id"] for i in ann["instances"])


def test_masks_equal_blenders_object_index_and_pycocotools(scenes, flavour):
    """Cycles at 1 sample: the object-index pass and Cryptomatte's rank 0 come from the
    same sample, so each mask must equal (object_index == the object's pass_index)."""
    f = ba.render(scenes("demo"), passes=["object_index"], engine="CYCLES", samples=1,
                  annotations=True, **blender_kw(flavour))
    from blendarray.blender.scenes import DEMO_OBJECTS  # (imports bpy: not at collection)
    index = f["object_index"]
    got = _by_name(f)
    visible = {n for n, (_, pi) in DEMO_OBJECTS.items() if (index == pi).any()}
    assert sorted(got) == sorted(visible) and len(visible) == 4
    for name, inst in got.items():
        want = index == DEMO_OBJECTS[name][1]
        rle = mask_util.encode(np.asfortranarray(want.astype(np.uint8)))
        assert inst["segmentation"]["counts"] == rle["counts"].decode(), name
        assert inst["segmentation"]["size"] == list(want.shape)
        assert (_mask(inst) == want).all(), name
        assert inst["area"] == int(mask_util.area(rle)) == int(want.sum())
        assert inst["bbox"] == [int(v) for v in mask_util.toBbox(rle)], name
        assert inst["category_id"] == DEMO_OBJECTS[name][1]  # no category_id: its pass_index


def _check_corners(frame, reference):
    for inst in frame.meta["annotations"]["instances"]:
        ref = np.array(reference[inst["name"]])
        kp = np.array(inst["keypoints"], dtype=np.float64).reshape(8, 3)
        assert np.abs(kp[:, :2] - ref[:, :2]).max() < 1e-4, inst["name"]
        inside = (ref[:, 2] > 0) & (ref[:, 0] >= 0) & (ref[:, 0] < frame.meta["resolution"][0]) \
            & (ref[:, 1] >= 0) & (ref[:, 1] < frame.meta["resolution"][1])
        assert (kp[:, 2] == np.where(inside, 2, 1)).all(), inst["name"]


@pytest.mark.parametrize("scene,frame", [("demo", 1), ("demo", 40), ("labels", 2)])
def test_corners_match_blenders_world_to_camera_view(scenes, flavour, scene, frame, warm):
    made = blender_output(flavour, os.path.join(SCRIPTS, "project_corners.py"), In(scenes(scene)),
                          str(frame), Out("corners.json"))
    with open(made / "corners.json") as f:
        ref = json.load(f)
    f = warm(flavour, scenes(scene), passes=["rgba"], annotations=True).render(
        frame=frame, engine="CYCLES", samples=1)
    assert f.meta["annotations"]["instances"]
    _check_corners(f, ref)


def test_poses_and_both_camera_conventions(scenes, flavour, warm):
    f = warm(flavour, scenes("demo"), passes=["rgba"], annotations=True).render(
        engine="CYCLES", samples=1)
    m = f.meta
    w2c, w2c_cv = np.array(m["world_to_camera"]), np.array(m["world_to_camera_cv"])
    assert np.allclose(w2c_cv, CV @ w2c) and np.allclose(np.array(m["camera_to_world_cv"]),
                                                        np.linalg.inv(w2c_cv))
    # the worked example of docs/labels.md: the world origin is 10 units in front
    assert np.allclose(w2c @ [0, 0, 0, 1], [0, 0, -10, 1]) and np.allclose(w2c_cv @ [0, 0, 0, 1], [0, 0, 10, 1])
    K = np.array(m["K"])
    p = K @ (w2c_cv @ [0, 0, 0, 1])[:3]
    assert np.allclose(p[:2] / p[2], [K[0, 2], K[1, 2]])
    up = K @ (w2c_cv @ [0, 1, 0, 1])[:3]
    assert up[1] / up[2] < K[1, 2]  # world +Y is the top of the image: smaller v
    cube = _by_name(f)["RedCube"]
    o2w = np.array(cube["object_to_world"])
    assert np.allclose(o2w[:3, 3], [-2.0, 1.3, 0.6])
    assert np.allclose(np.array(cube["object_to_camera"]), w2c @ o2w)
    assert np.allclose(np.array(cube["object_to_camera_cv"]), CV @ w2c @ o2w)
    s = 0.6  # the cube's half size: its bound_box corners, then into the camera
    local = np.array([[-s, -s, -s], [-s, -s, s], [-s, s, s], [-s, s, -s],
                      [s, -s, -s], [s, -s, s], [s, s, s], [s, s, -s]])
    want = (CV @ w2c @ o2w @ np.c_[local, np.ones(8)].T).T[:, :3]
    assert np.allclose(np.array(cube["corners_camera_cv"]), want, atol=1e-5)
    assert (np.array(cube["corners_camera_cv"])[:, 2] > 0).all()  # in front: +Z in OpenCV's


@pytest.mark.matrix(engines=["CYCLES"])
@pytest.mark.parametrize("engine", ["CYCLES", "EEVEE"])
def test_flow_of_a_plane_moving_a_known_number_of_pixels(scenes, flavour, engine):
    if engine == "EEVEE" and flavour == "blender":
        pytest.skip("EEVEE of Blender 3.4 renders no vector pass")
    f = ba.render(scenes("labels"), frame=2, passes=["rgba", "flow_forward", "flow_backward"],
                  engine=engine, **blender_kw(flavour))
    fwd, bwd = f["flow_forward"], f["flow_backward"]
    assert fwd.shape == bwd.shape == (60, 80, 2) and fwd.dtype == np.float32
    assert "vector" in f  # the source is captured too
    mover = np.zeros((60, 80), bool)
    mover[38:48, 40:60] = True  # frame 2: 5 px right, 3 px down of frame 1's 35..55 x 35..45
    tol = 1e-4 if engine == "CYCLES" else 0.01  # float32 raster arithmetic; EEVEE: half floats
    assert np.abs(fwd[mover] - [5, 3]).max() <= tol, "forward: 5 px right, 3 px down"
    assert np.abs(bwd[mover] - [-5, -3]).max() <= tol, "backward: 5 px left, 3 px up"
    assert (fwd[~mover] == 0).all() and (bwd[~mover] == 0).all()
    v = f["vector"]  # and the conversion is the documented one
    assert (fwd == np.stack([-v[..., 2], v[..., 3]], -1)).all()
    assert (bwd == np.stack([v[..., 0], -v[..., 1]], -1)).all()


INTERNAL = {"default_surface", "default_volume", "default_light", "default_background",
            "default_empty", "object", "World"}


def _exr_manifests(path):
    """Blender's own Cryptomatte manifests, from the EXR header: {kind: {name: hex}}."""
    out = {}
    with OpenEXR.File(path) as f:
        for part in f.parts:
            h = part.header
            for key, value in h.items():
                if key.startswith("cryptomatte/") and key.endswith("/name"):
                    layer = value.decode() if isinstance(value, bytes) else value
                    man = h[key[:-len("name")] + "manifest"]
                    man = man.decode() if isinstance(man, bytes) else man
                    kind = layer.rsplit(".", 1)[-1].replace("Crypto", "").lower()
                    out[kind] = json.loads(man)
    return out


def test_manifests_equal_blenders_exr_header(scenes, flavour):
    made = blender_output(flavour, os.path.join(SCRIPTS, "reference.py"), In(scenes("allpasses")),
                          "CYCLES", Out("ref.exr"), Out("ref.png"))
    blender = _exr_manifests(made / "ref.exr")
    assert set(blender) == {"object", "material", "asset"}, blender.keys()
    f = ba.render(scenes("allpasses"), passes=["cryptomatte_object", "cryptomatte_material",
                                               "cryptomatte_asset"], engine="CYCLES",
                  **blender_kw(flavour))
    ours = f.meta["cryptomatte"]
    for kind, entries in blender.items():
        # Blender lists what it rendered, and Cycles' own shaders (default_surface, ...)
        # and, from 5.0, the world: names no scene has. Every name of the scene's it
        # lists, ours lists with the same id.
        common = set(entries) & set(ours[kind])
        assert len(common) >= 4, (kind, entries, ours[kind])
        for name in common:
            assert ours[kind][name] == entries[name], (kind, name)
        assert set(entries) - common <= INTERNAL, (kind, set(entries) - common)
    assert "annotations" not in f.meta  # not asked for


def test_workbench_annotations_say_why(scenes, flavour):
    with pytest.raises(ba.PassError, match="Workbench"):
        ba.render(scenes("labels"), passes=["rgba"], engine="WORKBENCH", annotations=True,
                  **blender_kw(flavour))


def test_objects_that_cannot_be_told_apart(scenes, flavour):
    with pytest.raises(ba.SceneError, match="cannot be told apart"):
        with ba.Renderer(scenes("labels"), passes=["rgba"], engine="CYCLES",
                         setup=HOOKS + ":colliding_names", annotations=True,
                         **blender_kw(flavour)) as r:
            r.render()


def test_flow_with_motion_blur_says_why(scenes, flavour):
    with pytest.raises(ba.SceneError, match="motion blur"):
        with ba.Renderer(scenes("labels"), passes=["flow_forward"], engine="CYCLES",
                         setup=HOOKS + ":motion_blur_on", **blender_kw(flavour)) as r:
            r.render()


def test_renderer_frames_carry_their_own_labels(scenes, flavour):
    with ba.Renderer(scenes("labels"), workers=2, passes=["rgba"], engine="CYCLES",
                     annotations=True, **blender_kw(flavour)) as r:
        frames = [f.meta for f in r.frames(range(1, 5))]
    for n, meta in enumerate(frames, start=1):
        x, y, w, h = _by_name_meta(meta)["Mover"]["bbox"]
        assert (x, y, w, h) == (35 + 5 * (n - 1), 35 + 3 * (n - 1), 20, 10), n


def _by_name_meta(meta):
    return {i["name"]: i for i in meta["annotations"]["instances"]}


# blendarray.labels: the annotations' masks as arrays, soft masks from Cryptomatte

def test_masks_equal_pycocotools_decode(scenes, flavour, warm):
    f = warm(flavour, scenes("demo"), passes=["rgba"], annotations=True).render(
        engine="CYCLES", samples=1)
    inst = f.meta["annotations"]["instances"]
    m = ba_labels.masks(f)
    assert m.dtype == bool and m.shape == (len(inst), 72, 96) and len(inst) == 4
    for i, one in enumerate(inst):
        want = mask_util.decode(one["segmentation"]).astype(bool)
        assert want.any() and (m[i] == want).all(), one["name"]
        assert (ba_labels.mask(one) == want).all() and (ba_labels.mask(one["segmentation"]) == want).all()
    row = {"meta": json.dumps(f.meta)}  # a Ray row's meta column
    assert (ba_labels.masks(row) == m).all()
    empty = dict(f.meta, annotations=dict(f.meta["annotations"], instances=[]))
    assert ba_labels.masks({"meta": empty}).shape == (0, 72, 96)
    with pytest.raises(ValueError, match="annotations=True"):
        ba_labels.masks({"meta": {"resolution": [96, 72]}})
    bad = dict(inst[0]["segmentation"], counts=inst[0]["segmentation"]["counts"][:-2])
    with pytest.raises(ValueError, match="COCO RLE of a 72x96 mask"):
        ba_labels.mask(bad)


def _exr_coverage(exr, layer, kind, ident):
    """Cryptomatte's matte in NumPy from Blender's own EXR channels: over the levels and
    ranks in order, the coverage where the id's bits are `ident`."""
    out = None
    for level in range(10):
        base = f"{layer}.Crypto{kind}{level:02d}."
        if base + "r" not in exr:  # Blender names these channels r, g, b, a
            break
        for idc, covc in (("r", "g"), ("b", "a")):
            ids = exr[base + idc].astype(np.float32).view(np.uint32)
            cov = exr[base + covc].astype(np.float32)
            out = np.zeros(ids.shape, np.float32) if out is None else out
            out += np.where(ids == ident, cov, np.float32(0))
    assert out is not None, f"no {kind} Cryptomatte in Blender's EXR: {sorted(exr)[:8]}"
    return out


@pytest.mark.matrix
def test_coverage_equals_blenders_own_cryptomatte(scenes, flavour):
    """The strips scene (tests/scenes/make_scenes.py): six objects share each pixel of
    one column, 1/6 each, so all three levels of ranks are in use. Every object's and
    material's coverage equals the matte computed from Blender's own EXR of the same
    render; in that column the six sum to the whole pixel."""
    made = blender_output(flavour, os.path.join(SCRIPTS, "reference.py"), In(scenes("strips")),
                          "CYCLES", Out("ref.exr"), Out("ref.png"))
    with OpenEXR.File(made / "ref.exr", separate_channels=True) as ef:
        exr = {n: c.pixels for part in ef.parts for n, c in part.channels.items()}
    f = ba.render(scenes("strips"), passes=["cryptomatte_object", "cryptomatte_material"],
                  engine="CYCLES", annotations=True, **blender_kw(flavour))
    assert [k for k in f if k.startswith("cryptomatte_object")] == [
        "cryptomatte_object_00", "cryptomatte_object_01", "cryptomatte_object_02"]
    assert (f["cryptomatte_object_02"][:, 3, 3] > 0).all(), "the sixth rank is in use"
    layer = f.meta["passes"]["cryptomatte_object_00"]["layer"]
    strips = [f"S{i}" for i in range(6)]
    assert set(strips) <= set(f.meta["cryptomatte"]["object"])
    for kind, names in f.meta["cryptomatte"].items():
        if kind == "asset":
            continue
        for name in names:
            want = _exr_coverage(exr, layer, kind.capitalize(), ba._core.cryptomatte_id(name))
            got = ba_labels.coverage(f, name, kind)
            assert got.dtype == np.float32 and got.shape == (6, 8)
            assert np.array_equal(got, want), (kind, name, np.abs(got - want).max())
    cov = np.stack([ba_labels.coverage(f, n) for n in strips])
    assert (cov[:, :, np.arange(8) != 3] == 0).all(), "nothing outside the column"
    assert np.abs(cov[:, :, 3].sum(0) - 1).max() < 1e-5, "the six fill the pixel"
    assert (np.abs(cov[:, :, 3] - 1 / 6) < 0.1).all(), cov[:, :, 3]  # 64 samples
    for inst in f.meta["annotations"]["instances"]:  # an instance, its id, its name: the same
        got = ba_labels.coverage(f, inst)
        assert np.array_equal(got, ba_labels.coverage(f, inst["name"]))
        assert np.array_equal(got, ba_labels.coverage(f, inst["id"]))
        assert (got[ba_labels.mask(inst)] > 0).all(), inst["name"]  # rank 0: it covers some


def test_coverage_says_what_is_missing(scenes, flavour):
    f = ba.render(scenes("demo"), passes=["rgba"], engine="CYCLES", samples=1,
                  **blender_kw(flavour))
    with pytest.raises(KeyError, match="passes=.*'cryptomatte_object'.*annotations=True"):
        ba_labels.coverage(f, "RedCube")
    g = ba.render(scenes("demo"), passes=["cryptomatte_object_00"], engine="CYCLES", samples=1,
                  **blender_kw(flavour))
    with pytest.raises(KeyError, match="no object named 'Redcube'.*RedCube"):
        ba_labels.coverage(g, "Redcube")
    with pytest.raises(ValueError, match="kind"):
        ba_labels.coverage(g, "RedCube", kind="objects")
    with pytest.raises(TypeError, match="name, an instance or a uint32 id"):
        ba_labels.coverage(g, -1)
    assert ba_labels.coverage(g, "RedCube").max() == 1.0  # one sample: all or nothing
