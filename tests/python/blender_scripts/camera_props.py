"""For each camera of a list, what blendarray's in-Blender code says about it (the
frame metadata's K and world_to_camera*, the projection parameters the
annotations use, the keypoints of a box's corners from the annotations' own
function) beside Blender's own projection of world points, two ways:

- `bpy_extras.object_utils.world_to_camera_view` (normalised frame coordinates,
  x right from the left edge, y UP from the bottom edge; times the image size,
  y flipped), which follows the camera's view_frame;
- the camera's own projection matrix, `calc_matrix_camera(depsgraph, x=W, y=H,
  scale_x=pixel_aspect_x, scale_y=pixel_aspect_y)` after the view matrix
  `matrix_world.normalized().inverted()` (the renderers drop the camera's
  scale), NDC to pixels: u = (x + 1) / 2 W, v = (1 - y) / 2 H.

    blender -b --factory-startup --python camera_props.py -- CAMERAS_JSON OUT_JSON
    python camera_props.py CAMERAS_JSON OUT_JSON

CAMERAS_JSON: {"cameras": [{"type", "lens", "ortho_scale", "sensor_width",
"sensor_height", "sensor_fit", "shift_x", "shift_y", "resolution": [x, y],
"percentage", "pixel_aspect": [x, y], "matrix_world": 4x4 rows, "points": world
points, "box": {"min", "max", "matrix_world"}}, ...]}.
"""
import json
import sys

import bpy
import numpy as np
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Matrix, Vector

from blendarray.blender import labels, meta

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
with open(argv[0]) as f:
    cameras = json.load(f)["cameras"]

bpy.ops.wm.read_factory_settings(use_empty=True)
scene = bpy.context.scene
cam_data = bpy.data.cameras.new("Camera")
cam = bpy.data.objects.new("Camera", cam_data)
scene.collection.objects.link(cam)
scene.camera = cam
box_mesh = bpy.data.meshes.new("Box")
box_mesh.from_pydata([(0.0, 0.0, 0.0)] * 8, [], [])
box = bpy.data.objects.new("Box", box_mesh)
scene.collection.objects.link(box)


def _np(m):
    return np.array([list(row) for row in m], dtype=np.float64)


out = []
for c in cameras:
    r = scene.render
    r.resolution_x, r.resolution_y = c["resolution"]
    r.resolution_percentage = c["percentage"]
    r.pixel_aspect_x, r.pixel_aspect_y = c["pixel_aspect"]
    d = cam.data
    d.type = c["type"]
    d.lens, d.ortho_scale = c["lens"], c["ortho_scale"]
    d.sensor_width, d.sensor_height, d.sensor_fit = c["sensor_width"], c["sensor_height"], c["sensor_fit"]
    d.shift_x, d.shift_y = c["shift_x"], c["shift_y"]
    cam.matrix_world = Matrix(c["matrix_world"])
    lo, hi = c["box"]["min"], c["box"]["max"]
    for i, v in enumerate(box_mesh.vertices):  # a box's corners: its bound_box is theirs
        v.co = [hi[k] if (i >> k) & 1 else lo[k] for k in range(3)]
    box_mesh.update()
    box.matrix_world = Matrix(c["box"]["matrix_world"])
    depsgraph = bpy.context.evaluated_depsgraph_get()
    depsgraph.update()

    # blendarray: what a rendered frame's meta and annotations would hold
    w = r.resolution_x * r.resolution_percentage // 100
    h = r.resolution_y * r.resolution_percentage // 100
    m = meta.frame_meta(scene, ["ViewLayer"])
    crypto = np.zeros((h, w, 4), np.float32)  # the object pass: the box on every pixel
    crypto[..., 0] = np.full((h, w), labels.cryptomatte_id(box.name), np.uint32).view(np.float32)
    ann = labels.annotate(scene, crypto, w, h)
    inst = [i for i in ann["instances"] if i["name"] == "Box"]
    assert len(inst) == 1, ann["instances"]

    # Blender's own projections of the points and of the box's corners (given in
    # bound_box order, in world coordinates)
    pts = [Vector(p) for p in c["points"] + c["box"]["corners_world"]]
    by_view = []
    for p in pts:
        q = world_to_camera_view(scene, cam, p)
        by_view.append([q.x * w, (1.0 - q.y) * h, q.z])
    proj = _np(cam.calc_matrix_camera(depsgraph, x=w, y=h, scale_x=r.pixel_aspect_x,
                                      scale_y=r.pixel_aspect_y))
    view = _np(cam.matrix_world.normalized().inverted())
    by_matrix = []
    for p in pts:
        e = view @ np.array([p.x, p.y, p.z, 1.0])
        clip = proj @ e
        x, y = clip[0] / clip[3], clip[1] / clip[3]
        by_matrix.append([(x + 1.0) / 2.0 * w, (1.0 - y) / 2.0 * h, -e[2]])

    out.append({
        "size": [w, h], "resolution": m["resolution"], "K": m["K"],
        "world_to_camera": m["world_to_camera"], "world_to_camera_cv": m["world_to_camera_cv"],
        "camera_to_world_cv": m["camera_to_world_cv"],
        "view_params": list(meta.view_params(scene, cam)),
        "keypoints": inst[0]["keypoints"], "corners_camera_cv": inst[0]["corners_camera_cv"],
        "blender_view": view.tolist(), "by_view": by_view, "by_matrix": by_matrix})

with open(argv[1], "w") as f:
    json.dump({"blender_version": bpy.app.version_string, "cameras": out}, f)
