"""ba.render against Blender's own output, on every engine and Blender flavour.

The reference is what Blender itself writes for the same scene in a separate
process (tests/python/blender_scripts/reference.py: write_still to a multilayer
EXR, and the PNG of that render), read with OpenEXR's own Python reader and
Pillow, never with blendarray's code.
"""
import os

import numpy as np
import OpenEXR
import pytest
from PIL import Image

import blendarray as ba
from support import ENGINES, SCRIPTS, run_blender

ALL_PASSES_EXPECTED = {  # a few passes each engine must produce in the allpasses scene
    "CYCLES": {"rgba", "depth", "normal", "position", "vector", "uv", "object_index",
               "material_index", "emission", "cryptomatte_object_00", "tint", "height"},
    "EEVEE": {"rgba", "depth", "normal", "emission", "cryptomatte_object_00"},
    "WORKBENCH": {"rgba", "depth"},
}


def read_exr(path):
    """{channel name: (H, W) array} over every part of the file."""
    out = {}
    with OpenEXR.File(path, separate_channels=True) as f:
        for part in f.parts:
            for name, ch in part.channels.items():
                out[name] = ch.pixels
    return out


def reference(flavour, scene, engine, tmp_path):
    exr, png = str(tmp_path / "ref.exr"), str(tmp_path / "ref.png")
    run_blender(flavour, os.path.join(SCRIPTS, "reference.py"), scene, engine, exr, png)
    return read_exr(exr), np.asarray(Image.open(png).convert("RGBA"))


def same_bits(a, b):
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and bool((a.view(np.uint8) == b.view(np.uint8)).all())


@pytest.mark.parametrize("engine", ENGINES)
def test_every_pass_matches_blenders_exr_and_png(flavour, scenes, engine, tmp_path):
    frame = ba.render(scenes("allpasses"), engine=engine, display=True, blender=flavour)
    ref, ref_png = reference(flavour, scenes("allpasses"), engine, tmp_path)

    assert ALL_PASSES_EXPECTED[engine] <= set(frame), sorted(frame)
    described = frame.meta["passes"]
    covered = set()
    for name, arr in frame.items():
        if name == "display":
            continue
        d = described[name]
        assert arr.flags.c_contiguous
        prefix = f"{d['layer']}.{d['blender_pass']}."
        chans = [k for k in ref if k.startswith(prefix)]
        by_letter = {k[len(prefix):].upper(): k for k in chans}
        order = [by_letter[c.upper()] for c in d["channels"]]
        covered.update(order)
        expect = np.stack([ref[k] for k in order], axis=-1)
        if expect.shape[-1] == 1:
            expect = expect[..., 0]
        if arr.dtype == np.int32:  # index passes: Blender stores integers as floats
            assert np.array_equal(arr, expect.astype(np.int32)) and np.array_equal(arr.astype(np.float32), expect), name
        else:
            assert same_bits(arr, expect.astype(np.float32)), f"{name} differs from Blender's EXR"
    # Nothing Blender wrote for the view layer is missing from the frame.
    layer_chans = {k for k in ref if k.startswith("ViewLayer.")}
    assert layer_chans == covered, sorted(layer_chans - covered)

    disp = frame["display"]
    assert disp.dtype == np.uint8 and disp.shape == ref_png.shape
    assert np.array_equal(disp, ref_png), "display differs from Blender's PNG"


@pytest.mark.parametrize("engine", ENGINES)
def test_orientation_and_known_colour(flavour, scenes, engine):
    """An orange emission square in the top-left quadrant lands in the array's top-left,
    exactly where the camera intrinsics K put it, in exactly its colour."""
    f = ba.render(scenes("quadrant"), engine=engine, passes=["rgba"], blender=flavour)
    rgba = f["rgba"]
    assert rgba.shape == (48, 64, 4) and rgba.dtype == np.float32
    K = np.array(f.meta["K"])
    w2c = np.array(f.meta["world_to_camera"])
    # Project the square's centre (-1.8, 1.35, 0): Blender's camera looks down -Z, +Y up.
    pc = w2c @ np.array([-1.8, 1.35, 0.0, 1.0])
    u = K[0, 0] * pc[0] / -pc[2] + K[0, 2]
    v = K[1, 1] * -pc[1] / -pc[2] + K[1, 2]
    assert abs(u - 16.0) < 1e-6 and abs(v - 12.0) < 1e-6
    lit = rgba[..., 0] > 0.5
    ys, xs = np.nonzero(lit)
    assert xs.max() < 32 and ys.max() < 24, "the square must be in the top-left quadrant"
    assert abs((xs.min() + xs.max() + 1) / 2 - u) <= 0.5 and abs((ys.min() + ys.max() + 1) / 2 - v) <= 0.5
    tol = 0 if engine == "CYCLES" else 4e-3  # EEVEE and Workbench: half floats, AA jitter
    np.testing.assert_allclose(rgba[12, 16, :3], [1.0, 0.5, 0.0], atol=tol + 1e-6)
    np.testing.assert_allclose(rgba[36, 48, :3], [0, 0, 0], atol=tol)


def test_object_index_and_emission_colours(flavour, scenes):
    f = ba.render(scenes("demo"), engine="CYCLES", passes=["rgba", "object_index", "depth"],
                  resolution=(96, 72), blender=flavour)
    idx, rgba, depth = f["object_index"], f["rgba"], f["depth"]
    assert idx.dtype == np.int32 and idx.shape == (72, 96)
    assert set(np.unique(idx)) == {1, 2, 3, 4}
    K, w2c = np.array(f.meta["K"]), np.array(f.meta["world_to_camera"])
    known = {  # object: (a world point on its top, pass index, emission colour)
        "RedCube": ((-2.0, 1.3, 1.2), 2, (1.0, 0.1, 0.05)),
        "GreenSphere": ((1.6, -1.0, 1.6), 3, (0.1, 0.8, 0.2)),
        "BlueCone": ((2.2, 1.5, None), 4, (0.1, 0.2, 1.0)),  # apex: no flat top to check depth on
        "Ground": ((-3.0, -2.2, 0.0), 1, (0.18, 0.18, 0.18)),
    }
    for name, (p, index, colour) in known.items():
        pc = w2c @ np.array([p[0], p[1], p[2] or 0.0, 1.0])
        x = int(K[0, 0] * pc[0] / -pc[2] + K[0, 2])
        y = int(K[1, 1] * -pc[1] / -pc[2] + K[1, 2])
        assert idx[y, x] == index, name
        np.testing.assert_allclose(rgba[y, x, :3], colour, rtol=1e-6, err_msg=name)
        if p[2] is not None:
            assert abs(depth[y, x] - (10.0 - p[2])) < 0.01, name  # camera at z=10 looking down
    assert f.meta["resolution"] == [96, 72] and f.meta["engine"] == "CYCLES"


def test_two_view_layers_are_prefixed(flavour, scenes):
    f = ba.render(scenes("twolayers"), engine="CYCLES", passes=["rgba", "Second/depth"],
                  blender=flavour)
    assert set(f) == {"Main/rgba", "Second/rgba", "Second/depth"}
    assert f["Main/rgba"].shape == (24, 32, 4)


def test_demo_scene_without_a_file(flavour):
    f = ba.render(passes="rgba,object_index", engine="CYCLES", samples=1, resolution=(64, 48),
                  blender=flavour)
    assert f["object_index"][12, 16] == 2  # the red cube, top-left
    arr = np.asarray(f)
    assert arr.shape == (48, 64, 4) and arr is not None
    assert f.meta["frame"] == 1 and f.meta["samples"] == 1


def test_frame_number_and_samples(flavour, scenes):
    f = ba.render(scenes("demo"), frame=125, engine="EEVEE", samples=2, passes=["rgba"],
                  blender=flavour)
    assert f.meta["frame"] == 125 and f.meta["samples"] == 2
    assert f.meta["engine"].startswith("BLENDER_EEVEE")
