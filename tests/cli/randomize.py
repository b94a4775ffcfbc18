"""A per-frame setup hook for the CLI tests (runs inside Blender)."""
import os
import time


def setup(scene, index, rng):
    cube = scene.objects["RedCube"]
    cube.rotation_euler.z = rng.uniform(0, 6.283)
    cube.location.x = -2.0 + rng.uniform(-0.5, 0.5)
    marks = os.environ.get("BA_TEST_DIR")
    if marks:  # this Blender has started and renders (the kill test waits for this)
        open(os.path.join(marks, f"rendering-{os.getpid()}"), "w").close()
    time.sleep(float(os.environ.get("BA_TEST_FRAME_SECONDS", 0)))  # a longer stream
    return {"angle": cube.rotation_euler.z}
