"""Scenes built from scratch, so that their right answers are known.

Every object carries an emission shader of a stated colour (so Cycles and
EEVEE render exactly that colour whatever the sampling) and the same colour as
its viewport colour (so Workbench, with flat lighting, shows it too), and a
pass_index. The camera looks straight down -Z from z = 10.
"""
import math
import sys

import bpy

# name: (colour, pass_index)
DEMO_OBJECTS = {
    "Ground": ((0.18, 0.18, 0.18), 1),
    "RedCube": ((1.0, 0.1, 0.05), 2),
    "GreenSphere": ((0.1, 0.8, 0.2), 3),
    "BlueCone": ((0.1, 0.2, 1.0), 4),
}


def reset():
    """An empty scene (no objects, no camera)."""
    bpy.ops.wm.read_factory_settings(use_empty=True)
    return bpy.context.scene


def material(name, color, strength=1.0):
    mat = bpy.data.materials.new(name)
    mat.diffuse_color = (*color, 1.0)  # what Workbench shows
    mat.use_nodes = True
    nt = mat.node_tree
    nt.nodes.clear()
    emit = nt.nodes.new("ShaderNodeEmission")
    emit.inputs["Color"].default_value = (*color, 1.0)
    emit.inputs["Strength"].default_value = strength
    out = nt.nodes.new("ShaderNodeOutputMaterial")
    nt.links.new(emit.outputs[0], out.inputs["Surface"])
    return mat


def _mesh_object(scene, name, verts, faces, location, color, pass_index):
    me = bpy.data.meshes.new(name)
    me.from_pydata(verts, [], faces)
    me.update()
    mat = material(name, color)
    mat.pass_index = pass_index
    me.materials.append(mat)
    ob = bpy.data.objects.new(name, me)
    ob.location = location
    ob.pass_index = pass_index
    scene.collection.objects.link(ob)
    return ob


def add_plane(scene, name, size_x, size_y, location, color, pass_index):
    x, y = size_x / 2, size_y / 2
    return _mesh_object(scene, name, [(-x, -y, 0), (x, -y, 0), (x, y, 0), (-x, y, 0)],
                        [(0, 1, 2, 3)], location, color, pass_index)


def add_box(scene, name, size, location, color, pass_index):
    s = size / 2
    v = [(-s, -s, -s), (s, -s, -s), (s, s, -s), (-s, s, -s),
         (-s, -s, s), (s, -s, s), (s, s, s), (-s, s, s)]
    f = [(0, 3, 2, 1), (4, 5, 6, 7), (0, 1, 5, 4), (1, 2, 6, 5), (2, 3, 7, 6), (3, 0, 4, 7)]
    return _mesh_object(scene, name, v, f, location, color, pass_index)


def add_sphere(scene, name, radius, location, color, pass_index, rings=16, segments=32):
    v = [(0, 0, radius)]
    for i in range(1, rings):
        t = math.pi * i / rings
        for j in range(segments):
            p = 2 * math.pi * j / segments
            v.append((radius * math.sin(t) * math.cos(p), radius * math.sin(t) * math.sin(p),
                      radius * math.cos(t)))
    v.append((0, 0, -radius))
    f = [(0, 1 + (j + 1) % segments, 1 + j) for j in range(segments)]
    for i in range(rings - 2):
        a, b = 1 + i * segments, 1 + (i + 1) * segments
        f += [(a + j, a + (j + 1) % segments, b + (j + 1) % segments, b + j) for j in range(segments)]
    last = len(v) - 1
    base = 1 + (rings - 2) * segments
    f += [(last, base + j, base + (j + 1) % segments) for j in range(segments)]
    return _mesh_object(scene, name, v, f, location, color, pass_index)


def add_cone(scene, name, radius, height, location, color, pass_index, segments=32):
    v = [(radius * math.cos(2 * math.pi * j / segments),
          radius * math.sin(2 * math.pi * j / segments), 0) for j in range(segments)]
    v.append((0, 0, height))
    f = [tuple(range(segments - 1, -1, -1))] + [(j, (j + 1) % segments, segments)
                                                  for j in range(segments)]
    return _mesh_object(scene, name, v, f, location, color, pass_index)


def add_camera(scene, location=(0.0, 0.0, 10.0), lens=50.0):
    cam = bpy.data.cameras.new("Camera")
    cam.lens = lens
    cam.sensor_width = 36.0
    cam.sensor_fit = "AUTO"
    cam.clip_start, cam.clip_end = 0.1, 100.0
    ob = bpy.data.objects.new("Camera", cam)
    ob.location = location  # rotation 0: looks down -Z, image up = +Y, image right = +X
    scene.collection.objects.link(ob)
    scene.camera = ob
    return ob


def setup_render(scene, engine="CYCLES", resolution=(640, 480), samples=4):
    scene.render.resolution_x, scene.render.resolution_y = resolution
    scene.render.resolution_percentage = 100
    world = bpy.data.worlds.new("World")  # black background, so only the objects emit
    world.use_nodes = True
    bg = world.node_tree.nodes.get("Background")
    if bg is not None:
        bg.inputs["Color"].default_value = (0.0, 0.0, 0.0, 1.0)
    world.color = (0.0, 0.0, 0.0)
    scene.world = world
    scene.render.engine = engine
    scene.cycles.samples = samples
    scene.cycles.use_denoising = False
    scene.display.shading.light = "FLAT"  # Workbench: the viewport colour, unlit
    scene.display.shading.color_type = "MATERIAL"
    scene.frame_start, scene.frame_end = 1, 250
    return scene


def build_demo(scene=None):
    """The built-in demo: a grey ground, a red cube top-left, a green sphere
    bottom-right and a blue cone top-right, seen from above."""
    scene = scene or reset()
    setup_render(scene)
    add_camera(scene)
    c = DEMO_OBJECTS
    add_plane(scene, "Ground", 20, 20, (0, 0, 0), *c["Ground"])
    add_box(scene, "RedCube", 1.2, (-2.0, 1.3, 0.6), *c["RedCube"])
    add_sphere(scene, "GreenSphere", 0.8, (1.6, -1.0, 0.8), *c["GreenSphere"])
    add_cone(scene, "BlueCone", 0.6, 1.2, (2.2, 1.5, 0.0), *c["BlueCone"])
    cube = scene.objects["RedCube"]
    cube.rotation_euler.z = 0.3
    # Animate the cube so frames differ (and the vector pass has motion).
    cube.keyframe_insert("rotation_euler", frame=1)
    cube.rotation_euler.z = 0.3 + 2 * math.pi
    cube.keyframe_insert("rotation_euler", frame=250)
    return scene


def _this_blender():
    where = bpy.app.binary_path or ""
    if getattr(bpy.app, "module", False) or not where:  # the bpy module: its Python says which
        where = f"the bpy module, run by {sys.executable}"
    return f"Blender {bpy.app.version_string} ({where})"


_CHOOSE = ("blender= or python= in Python, --blender or --python on the command line, "
           "$BLENDARRAY_BLENDER")


def open_error(path, blender_said):
    """The SceneError for a .blend file this Blender failed to open. Blender says
    only "not a blend file" of a file a newer Blender saved: its header says which
    (src/blend.c), and the error names it, this Blender, and how to choose another."""
    # here, not at the top: tests/scenes/make_scenes.py loads this file by itself (bpy only)
    from .. import _lib
    from .._errors import SceneError
    said = str(blender_said).strip()
    try:
        saved = _lib.blend_version(path)
    except OSError as e:
        return SceneError(f"{_this_blender()} cannot open {path}: {e.strerror}")
    here = tuple(bpy.app.version)[:2]
    if saved == "future" or (saved is not None and saved > here):
        by = ("a Blender newer than any blendarray knows (its header is of a newer format)"
              if saved == "future" else f"Blender {saved[0]}.{saved[1]}")
        return SceneError(f"scene {path} was saved by {by}; this is {_this_blender()}, which "
                          f"cannot open files of newer versions: render it with "
                          f"{'a newer Blender' if saved == 'future' else by + ' or newer'} "
                          f"({_CHOOSE})")
    if saved is None:
        return SceneError(f"{_this_blender()} cannot open {path}: it is not a .blend file "
                          "(it starts with neither Blender's header nor a gzip or zstd stream "
                          f"holding one; Blender said: {said})")
    return SceneError(f"{_this_blender()} cannot open {path} (saved by Blender "
                      f"{saved[0]}.{saved[1]}): {said}")
