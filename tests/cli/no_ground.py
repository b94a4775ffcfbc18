"""A setup hook for the preview tests: the demo scene without its ground, so that
depth has a background (1e10, 65504 or the clip end, by engine and Blender)."""


def setup(scene, index, rng):
    scene.objects["Ground"].hide_render = True
