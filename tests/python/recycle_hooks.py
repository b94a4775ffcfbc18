"""Setup hooks of the recycling tests (tests/python/test_recycle.py), loaded by
'file.py:function'; they run inside Blender."""
import os

KEPT = []  # what leak() keeps: module globals live as long as the worker process


def move(scene, index, rng, params):
    """Moves the subdivided red cube by index (and a little by rng), or puts it back
    where the scene has it for a frame whose params say "still"."""
    cube = scene.objects["RedCube"]
    if params.get("still"):
        cube.location = (-2.0, 1.3, 0.6)  # as tests/scenes' demo builds it
    else:
        cube.location = (-2.4 + 0.3 * index, 1.3 + float(rng.uniform(-0.2, 0.2)), 0.6)
    return {"pid": os.getpid()}


def vm_rss():
    """This process's resident memory in bytes, as the kernel reports it."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) * 1024


def leak(scene, index, rng):
    """Keeps 20 MiB more each frame (every page touched: resident), as a hook that
    loads an image per frame does; the ground's colour is (index % 256) / 256."""
    block = bytearray(20 << 20)
    block[::4096] = b"\x01" * (len(block) // 4096)
    KEPT.append(block)
    v = (index % 256) / 256
    ground = scene.objects["Ground"].active_material.node_tree.nodes["Emission"]
    ground.inputs["Color"].default_value = (v, v, v, 1.0)
    return {"pid": os.getpid(), "rss": vm_rss()}


def pid(scene, index, rng):
    return {"pid": os.getpid()}
