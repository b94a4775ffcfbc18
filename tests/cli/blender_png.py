"""Blender's own colour-managed PNGs of a scene's frames: the independent reference
for the CLI's --display. Plain bpy only, nothing of blendarray.

    blender -b --factory-startup -noaudio --python blender_png.py -- SCENE WxH SAMPLES OUTDIR FRAME...

Renders each FRAME with Cycles at WxH (100%) and SAMPLES, and saves the render as
Blender saves a PNG (8-bit RGBA, the scene's view transform, look, exposure, gamma,
dither) to OUTDIR/FRAME.png.
"""
import os
import sys

import bpy

argv = sys.argv[sys.argv.index("--") + 1:]
scene_path, size, samples, outdir = argv[:4]
bpy.ops.wm.open_mainfile(filepath=scene_path, load_ui=False)
sc = bpy.context.scene
sc.render.engine = "CYCLES"
sc.render.resolution_x, sc.render.resolution_y = (int(v) for v in size.split("x"))
sc.render.resolution_percentage = 100
sc.cycles.samples = int(samples)
s = sc.render.image_settings
s.file_format = "PNG"
s.color_mode = "RGBA"
s.color_depth = "8"
for frame in argv[4:]:
    sc.frame_set(int(frame))
    bpy.ops.render.render()
    bpy.data.images["Render Result"].save_render(filepath=os.path.join(outdir, frame + ".png"), scene=sc)
