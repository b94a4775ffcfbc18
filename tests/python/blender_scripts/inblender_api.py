"""Exercise blendarray.blender inside Blender; exits non-zero on any failure.

    blender -b --factory-startup --python inblender_api.py -- SCENE_DIR
    python inblender_api.py SCENE_DIR
"""
import os
import sys

import bpy
import numpy as np

import blendarray.blender as bab
from blendarray import PassError, SceneError

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
scene_dir = argv[0]
bpy.ops.wm.open_mainfile(filepath=os.path.join(scene_dir, "demo.blend"), load_ui=False)
scene = bpy.context.scene
vl = scene.view_layers[0]
assert not vl.use_pass_z

# render(): passes asked for are enabled for the render, then the settings are restored.
frame = bab.render(passes=["rgba", "depth", "normal", "object_index"])
assert list(frame) == ["rgba", "depth", "normal", "object_index"], list(frame)
assert frame["depth"].shape == (72, 96) and frame["depth"].dtype == np.float32
assert frame["normal"].shape == (72, 96, 3)
assert frame["object_index"].dtype == np.int32
assert frame.meta["route"] == "cycles", frame.meta["route"]
assert not vl.use_pass_z, "render() must restore the view layer's pass settings"
for key in ("frame", "resolution", "engine", "samples", "K", "world_to_camera"):
    assert key in frame.meta, key

# capture() after Blender's own render: the same bits as render()'s Cycles route.
vl.use_pass_z = vl.use_pass_normal = vl.use_pass_object_index = True
bpy.ops.render.render()
again = bab.capture(passes=["rgba", "depth", "normal", "object_index"])
for name in frame:
    assert np.array_equal(frame[name].view(np.uint8), again[name].view(np.uint8)), name
assert again.meta["route"] == "exr"

# capture() derives what render() derives (display, flow, annotations), the same
# from the same render: render() keeps its pass settings, Blender renders again.
kw = dict(passes=["rgba", "flow_forward"], display=True, annotations=True)
frame = bab.render(keep_settings=True, **kw)
bpy.ops.render.render()
again = bab.capture(**kw)
assert set(again) == set(frame) >= {"rgba", "flow_forward", "display", "cryptomatte_object_00",
                                    "vector"}, (list(frame), list(again))
for name in frame:
    assert np.array_equal(frame[name].view(np.uint8), again[name].view(np.uint8)), name
for key in ("annotations", "cryptomatte", "display_route"):
    assert again.meta[key] == frame.meta[key], key
assert "RedCube" in {a["name"] for a in again.meta["annotations"]["instances"]}, again.meta
# a render without the Cryptomatte pass: capture says what to enable
vl.use_pass_cryptomatte_object = False
bpy.ops.render.render()
try:
    bab.capture(passes=["rgba"], annotations=True)
    raise AssertionError("annotations captured without a Cryptomatte pass")
except PassError as e:
    assert "use_pass_cryptomatte_object" in str(e) and "cryptomatte_object_00" in str(e), str(e)
try:
    bab.capture(annotations=True)  # every pass the render produced: not that one
    raise AssertionError("annotations captured without a Cryptomatte pass")
except PassError as e:
    assert "use_pass_cryptomatte_object" in str(e), str(e)
vl.use_pass_vector = False

# display: uint8 RGBA; its alpha is the rgba pass's alpha in 8 bits (transparent
# film: 0 where no object is; test_render.py compares display with Blender's PNG).
scene.render.film_transparent = True
scene.objects["Ground"].hide_render = True
f = bab.render(passes=["rgba"], display=True)
d = f["display"]
assert d.dtype == np.uint8 and d.shape == (72, 96, 4)
assert (d[..., 3] == 0).any() and (d[..., 3] == 255).any()
assert np.array_equal(d[..., 3], np.clip(np.floor(f["rgba"][..., 3] * 255 + 0.5), 0, 255).astype(np.uint8))
scene.render.film_transparent = False
scene.objects["Ground"].hide_render = False

# Errors.
try:
    bab.render(passes=["rgba", "no_such_pass"])
    raise AssertionError("unknown pass accepted")
except PassError as e:
    assert "no_such_pass" in str(e) and "depth" in str(e), str(e)
scene.render.engine = "BLENDER_WORKBENCH"
try:
    bab.render(passes=["object_index"])
    raise AssertionError("Workbench produced object_index?")
except PassError as e:
    assert "object_index" in str(e) and "rgba" in str(e), str(e)
cam = scene.camera
scene.camera = None
try:
    bab.render()
    raise AssertionError("rendered without a camera")
except SceneError as e:
    assert "no camera" in str(e), str(e)
scene.camera = cam
# Blender loads only the in-Blender side: none of the consumer's modules.
import blendarray.blender.worker  # noqa: E402,F401  (what a worker imports)
consumer = [m for m in ("blendarray._render", "blendarray._renderer", "blendarray._worker",
                        "blendarray._stream", "blendarray._core") if m in sys.modules]
assert not consumer, f"Blender imported consumer modules: {consumer}"
print("IN-BLENDER API OK")
