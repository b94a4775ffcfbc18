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
