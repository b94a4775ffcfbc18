"""A per-frame setup hook for the CLI tests (runs inside Blender)."""
import os
import time

_frames = [0]  # frames this Blender has begun


def setup(scene, index, rng):
    cube = scene.objects["RedCube"]
    cube.rotation_euler.z = rng.uniform(0, 6.283)
    cube.location.x = -2.0 + rng.uniform(-0.5, 0.5)
    marks = os.environ.get("BA_TEST_DIR")
    if marks:  # this Blender has started and renders (the kill test waits for this)
        open(os.path.join(marks, f"rendering-{os.getpid()}"), "w").close()
        if _frames[0]:  # and has finished its first frame, the slow one (kernels, sync)
            open(os.path.join(marks, f"warm-{os.getpid()}"), "w").close()
    _frames[0] += 1
    time.sleep(float(os.environ.get("BA_TEST_FRAME_SECONDS", 0)))  # a longer stream
    return {"angle": cube.rotation_euler.z}
