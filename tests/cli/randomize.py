"""A per-frame setup hook for the CLI tests (runs inside Blender)."""


def setup(scene, index, rng):
    cube = scene.objects["RedCube"]
    cube.rotation_euler.z = rng.uniform(0, 6.283)
    cube.location.x = -2.0 + rng.uniform(-0.5, 0.5)
    return {"angle": cube.rotation_euler.z}
