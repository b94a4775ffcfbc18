"""Build the test scenes and save them as .blend files, with Blender itself.

Run inside Blender:  blender -b --factory-startup --python make_scenes.py -- OUTDIR
               or:   python make_scenes.py OUTDIR   (a Python with the bpy module)
Each scene's right answer is known by construction (see blendarray.blender.scenes).
"""
import importlib.util
import os
import sys

import bpy


def _scenes_module():
    """blendarray.blender.scenes, loaded by itself (it needs only bpy) from the package
    on PYTHONPATH (the tests give the build tree's), else from the complete one in this
    checkout's build folder (scripts/install.sh made it). Not through the package,
    whose import loads the C library: the test cache (tests/python/blender_cache.py)
    rebuilds the scenes when a file they used changes, and the scenes use none of it."""
    where = os.path.join("blendarray", "blender", "scenes.py")
    build = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "dev",
                         "python")
    path = next((os.path.join(d, where) for d in sys.path + [build]
                 if os.path.isfile(os.path.join(d, where))), os.path.join(build, where))
    spec = importlib.util.spec_from_file_location("blendarray_test_scenes", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


S = _scenes_module()


def save(outdir, name):
    bpy.ops.wm.save_as_mainfile(filepath=os.path.join(outdir, name + ".blend"), compress=False)


def quadrant(outdir):
    """One orange emission square in the top-left quadrant, nothing else (black)."""
    sc = S.reset()
    S.setup_render(sc, resolution=(64, 48), samples=1)
    S.add_camera(sc)  # at z=10, 50 mm on a 36 mm sensor: the view is 7.2 x 5.4 at z=0
    S.add_plane(sc, "Square", 1.2, 1.2, (-1.8, 1.35, 0.0), (1.0, 0.5, 0.0), 7)
    save(outdir, "quadrant")


def demo(outdir):
    S.build_demo()
    sc = bpy.context.scene
    sc.render.resolution_x, sc.render.resolution_y = 96, 72
    sc.cycles.samples = 2
    save(outdir, "demo")


def allpasses(outdir):
    """The demo layout with every pass a view layer can ask for turned on,
    one colour AOV and one value AOV, and a second material index."""
    S.build_demo()
    sc = bpy.context.scene
    sc.render.resolution_x, sc.render.resolution_y = 80, 60
    sc.cycles.samples = 2
    sc.render.use_motion_blur = False  # Cycles renders the vector pass only without it
    vl = sc.view_layers[0]
    for attr in dir(vl):
        if attr.startswith("use_pass_") and attr != "use_pass_combined":
            try:
                setattr(vl, attr, True)
            except (AttributeError, TypeError):
                pass
    for sub in ("cycles", "eevee"):
        settings = getattr(vl, sub, None)
        for attr in dir(settings) if settings is not None else ():
            if attr.startswith("use_pass_") and "denois" not in attr:
                try:
                    setattr(settings, attr, True)
                except (AttributeError, TypeError):
                    pass
    if hasattr(vl, "aovs"):
        a = vl.aovs.add()
        a.name, a.type = "tint", "COLOR"
        b = vl.aovs.add()
        b.name, b.type = "height", "VALUE"
    for i, ob in enumerate(o for o in sc.objects if o.type == "MESH"):
        ob.active_material.pass_index = 10 + i
    save(outdir, "allpasses")


def twolayers(outdir):
    """Two rendering view layers: 'Main' and 'Second'."""
    S.build_demo()
    sc = bpy.context.scene
    sc.render.resolution_x, sc.render.resolution_y = 32, 24
    sc.cycles.samples = 1
    sc.view_layers[0].name = "Main"
    second = sc.view_layers.new("Second")
    second.use_pass_z = True
    save(outdir, "twolayers")


def nocamera(outdir):
    sc = S.reset()
    S.setup_render(sc, resolution=(32, 24), samples=1)
    S.add_plane(sc, "Plane", 2, 2, (0, 0, 0), (1, 1, 1), 1)
    save(outdir, "nocamera")


def slow(outdir):
    """The demo at a sample count no test waits for: for kill, timeout and Ctrl-C tests."""
    S.build_demo()
    sc = bpy.context.scene
    sc.cycles.use_adaptive_sampling = False
    sc.cycles.samples = 1000000
    save(outdir, "slow")


def evilnames(outdir):
    """AOVs whose names try to climb out of an output folder: ../escape, /abs, .hidden."""
    S.build_demo()
    sc = bpy.context.scene
    sc.render.resolution_x, sc.render.resolution_y = 16, 12
    sc.cycles.samples = 1
    vl = sc.view_layers[0]
    for name in ("../escape", "/abs", ".hidden"):
        a = vl.aovs.add()
        a.name, a.type = name, "VALUE"
    save(outdir, "evilnames")


def display(outdir):
    """The demo with a transparent film and non-default colour management: a look,
    exposure and gamma (the view transform is the factory one: Filmic or AgX)."""
    S.build_demo()
    sc = bpy.context.scene
    sc.render.resolution_x, sc.render.resolution_y = 64, 48
    sc.cycles.samples = 1
    sc.render.film_transparent = True
    sc.objects["Ground"].hide_render = True  # the background shows: alpha 0
    vs = sc.view_settings
    # the look enum is dynamic (the OCIO config's looks for this view transform)
    for look in ("Medium High Contrast", "AgX - Punchy", "Punchy", "High Contrast"):
        try:
            vs.look = look
            break
        except TypeError:
            continue
    assert vs.look != "None", "no known look in this Blender's OCIO config"
    vs.exposure, vs.gamma = 0.7, 1.3
    sc.render.dither_intensity = 1.0
    save(outdir, "display")


def labels(outdir):
    """Known labels and flow: an orthographic camera sees x -4..4, y -3..3 at 10
    pixels per unit (80x60), pixel-centre samples, a black world, and
    - "Box", a 1.6 cube whose top is the pixels x 12..28, y 12..28 (category 5, "box");
    - "Mover", a 2 x 1 plane at x 35..55, y 35..45 in frame 1, moving 5 px right
      and 3 px down per frame (linear; category 3, its pass_index);
    - "Plain", a 1 x 1 plane at x 65..75, y 5..15, with no category."""
    sc = S.reset()
    S.setup_render(sc, resolution=(80, 60), samples=1)
    sc.cycles.filter_width = 0.01  # every sample at its pixel's centre: edges exact
    sc.render.filter_size = 0.01   # EEVEE's and Workbench's
    sc.render.use_motion_blur = False  # Cycles renders the vector pass only without it
    cam = S.add_camera(sc)
    cam.data.type = "ORTHO"
    cam.data.ortho_scale = 8.0
    box = S.add_box(sc, "Box", 1.6, (-2.0, 1.0, 0.8), (1.0, 0.2, 0.1), 0)
    box["category_id"] = 5
    box["category_name"] = "box"
    mover = S.add_plane(sc, "Mover", 2.0, 1.0, (0.5, -1.0, 0.0), (0.1, 0.9, 0.2), 3)
    mover.keyframe_insert("location", frame=1)
    mover.location = (0.5 + 10 * 0.5, -1.0 - 10 * 0.3, 0.0)
    mover.keyframe_insert("location", frame=11)
    action = mover.animation_data.action
    curves = getattr(action, "fcurves", None)
    if curves is None:  # Blender 5: layered actions keep their curves in channel bags
        curves = [c for layer in action.layers for strip in layer.strips
                  for bag in strip.channelbags for c in bag.fcurves]
    for fc in curves:
        for k in fc.keyframe_points:
            k.interpolation = "LINEAR"
    S.add_plane(sc, "Plain", 1.0, 1.0, (3.0, 2.0, 0.0), (0.2, 0.3, 1.0), 0)
    sc.frame_set(1)
    save(outdir, "labels")


def strips(outdir):
    """Soft masks with a known answer: an orthographic camera sees x -4..4, y -3..3
    at one pixel per unit (8x6), a box pixel filter one pixel wide (samples spread
    evenly over their pixel), 64 samples, a black world, and six planes "S0".."S5",
    strips 1/6 wide side by side that fill the pixel column x -1..0 (the fourth)
    from top to bottom: each covers 1/6 of each of its pixels, all six the whole
    pixel, so every Cryptomatte rank of the view layer's depth 6 is in use."""
    sc = S.reset()
    S.setup_render(sc, resolution=(8, 6), samples=64)
    sc.cycles.pixel_filter_type = "BOX"
    sc.cycles.filter_width = 1.0
    cam = S.add_camera(sc)
    cam.data.type = "ORTHO"
    cam.data.ortho_scale = 8.0
    for i in range(6):
        S.add_plane(sc, f"S{i}", 1 / 6, 6.0, (-1 + (i + 0.5) / 6, 0.0, 0.0),
                    (0.1 + 0.15 * i, 0.5, 0.2), i + 1)
    vl = sc.view_layers[0]  # in Blender's own EXR too (the tests' reference)
    vl.use_pass_cryptomatte_object = vl.use_pass_cryptomatte_material = True
    save(outdir, "strips")


def default(outdir):
    """Blender's own factory-startup scene (cube, light, camera; Cycles denoising on,
    Filmic/AgX), exactly as a new user gets it."""
    bpy.ops.wm.read_factory_settings()
    save(outdir, "default")


def main(outdir):
    outdir = os.path.abspath(outdir)  # Blender wants absolute paths to save to
    os.makedirs(outdir, exist_ok=True)
    for build in (quadrant, demo, allpasses, twolayers, nocamera, slow, evilnames, display, labels,
                  strips, default):
        build(outdir)
    print("built scenes in", outdir)


if __name__ == "__main__":
    argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
    main(argv[0])
