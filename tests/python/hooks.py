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
