"""Setup hooks the Renderer tests load by 'file.py:function' (they run inside Blender)."""
import os
import signal


def fail_on_three(scene, index, rng):
    if index == 3:
        raise ValueError("the hook refuses frame 3")
    return {}


def crash_on_two(scene, index, rng):
    if index == 2:
        os.kill(os.getpid(), signal.SIGKILL)  # as a Blender crash would
    return {}


def segfault_on_one(scene, index, rng):
    if index == 1:
        os.kill(os.getpid(), signal.SIGSEGV)  # Blender's crash handler writes its report
    return {}


def where_blendarray_is(scene, index, rng):
    """What the worker's Python sees: its sys.path, where blendarray came from."""
    import sys
    import blendarray
    return {"path": list(sys.path), "package": blendarray.__file__,
            "modules": sorted(m for m in sys.modules if m.split(".")[0] == "blendarray")}


def move_sphere(scene, index, rng):
    """Moves the demo scene's green sphere to a random x: frames differ by index,
    and the returned value tells which randomization a frame got."""
    x = float(rng.uniform(-2.0, 2.0))
    scene.objects["GreenSphere"].location.x = x
    return {"x": x, "pid": os.getpid()}


def colliding_names(scene, index, rng):
    """Two planes whose names have one Cryptomatte id (MurmurHash3 collision):
    their pixels cannot be told apart."""
    import bpy
    for name, x in (("Part.7480", -1.0), ("Part.28540", 1.0)):
        if name not in bpy.data.objects:
            me = bpy.data.meshes.new(name)
            me.from_pydata([(-0.5, -0.5, 2), (0.5, -0.5, 2), (0.5, 0.5, 2), (-0.5, 0.5, 2)], [],
                           [(0, 1, 2, 3)])
            ob = bpy.data.objects.new(name, me)
            ob.location.x = x
            scene.collection.objects.link(ob)
    return {}


def motion_blur_on(scene, index, rng):
    scene.render.use_motion_blur = True
    return {}
