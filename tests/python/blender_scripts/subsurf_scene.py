"""The demo scene with a Subdivision Surface modifier (level 2, last in the stack)
on the red cube and the green sphere, Workbench (studio lighting), 64x64: in one
Blender process the first render of such a mesh differs from the later ones
unless GPU subdivision is off (blendarray.blender.worker.same_first_render;
tests/python/test_recycle.py). Uses plain bpy and the test scenes' builder.

    blender -b --factory-startup --python subsurf_scene.py -- OUT.blend
    python subsurf_scene.py OUT.blend
"""
import os
import sys

import bpy

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "scenes"))
import make_scenes  # noqa: E402  (tests/scenes: blendarray.blender.scenes, loaded by itself)

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
sc = make_scenes.S.build_demo()
sc.render.engine = "BLENDER_WORKBENCH"
sc.render.resolution_x = sc.render.resolution_y = 64
sc.display.shading.light = "STUDIO"  # the surface's normals show, not only its outline
for name in ("RedCube", "GreenSphere"):
    m = sc.objects[name].modifiers.new("Subsurf", "SUBSURF")
    m.levels = m.render_levels = 2
bpy.ops.wm.save_as_mainfile(filepath=os.path.abspath(argv[0]), compress=False)
