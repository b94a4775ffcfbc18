"""Blender's own projection of every object's bounding-box corners, the
reference for blendarray's keypoints: bpy_extras.object_utils.world_to_camera_view
(normalised: x right from the left edge, y UP from the bottom edge), times the
image size, y flipped. Plain bpy only: nothing of blendarray.

    blender -b --factory-startup --python project_corners.py -- SCENE FRAME OUT_JSON
"""
import json
import sys

import bpy
from bpy_extras.object_utils import world_to_camera_view
from mathutils import Vector

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
scene_path, frame, out = argv[0], int(argv[1]), argv[2]
bpy.ops.wm.open_mainfile(filepath=scene_path, load_ui=False)
sc = bpy.context.scene
sc.frame_set(frame)
w = sc.render.resolution_x * sc.render.resolution_percentage // 100
h = sc.render.resolution_y * sc.render.resolution_percentage // 100
deps = bpy.context.evaluated_depsgraph_get()
got = {}
for ob in sc.objects:
    if ob.type != "MESH":
        continue
    ev = ob.evaluated_get(deps)
    pts = []
    for c in ev.bound_box:
        p = world_to_camera_view(sc, sc.camera, ev.matrix_world @ Vector(c))
        pts.append([p.x * w, (1.0 - p.y) * h, p.z])
    got[ob.name] = pts
with open(out, "w") as f:
    json.dump(got, f)
