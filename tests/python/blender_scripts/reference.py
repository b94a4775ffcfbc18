"""Blender's own output for a scene, the reference the tests compare against.

Renders SCENE with ENGINE the way Blender itself writes files: a multilayer
EXR (ZIP, 32-bit float) through write_still, and then the PNG Blender saves of
the same render (8-bit RGBA, the scene's colour management).
Uses plain bpy only: nothing of blendarray.

    blender -b --factory-startup --python reference.py -- SCENE ENGINE OUT_EXR OUT_PNG [FRAME [WxH [SAMPLES]]]
    python reference.py SCENE ENGINE OUT_EXR OUT_PNG [FRAME [WxH [SAMPLES]]]

FRAME: the frame to render; WxH: the resolution (at 100%); SAMPLES: the engine's
render samples (Cycles, EEVEE); "-" or nothing: the scene's own.
"""
import sys

import bpy

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
scene_path, engine, out_exr, out_png = argv[:4]
bpy.ops.wm.open_mainfile(filepath=scene_path, load_ui=False)
sc = bpy.context.scene
if len(argv) > 4 and argv[4] != "-":
    sc.frame_set(int(argv[4]))
if len(argv) > 5 and argv[5] != "-":
    sc.render.resolution_x, sc.render.resolution_y = (int(v) for v in argv[5].split("x"))
    sc.render.resolution_percentage = 100
ids = {"CYCLES": ["CYCLES"], "WORKBENCH": ["BLENDER_WORKBENCH"],
       "EEVEE": ["BLENDER_EEVEE_NEXT", "BLENDER_EEVEE"]}[engine]
for ident in ids:
    try:
        sc.render.engine = ident
        break
    except TypeError:
        pass
if len(argv) > 6 and argv[6] != "-":
    if engine == "CYCLES":
        sc.cycles.samples = int(argv[6])
    elif engine == "EEVEE":
        sc.eevee.taa_render_samples = int(argv[6])
s = sc.render.image_settings
if hasattr(s, "media_type"):
    s.media_type = "MULTI_LAYER_IMAGE"
s.file_format = "OPEN_EXR_MULTILAYER"
s.exr_codec = "ZIP"
s.color_depth = "32"
sc.render.filepath = out_exr
sc.render.use_file_extension = False
bpy.ops.render.render(write_still=True)
if hasattr(s, "media_type"):
    s.media_type = "IMAGE"
s.file_format = "PNG"
s.color_mode = "RGBA"
s.color_depth = "8"
bpy.data.images["Render Result"].save_render(filepath=out_png, scene=sc)
