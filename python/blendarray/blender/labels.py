"""The labels of a rendered frame (docs/labels.md): instances found in the
Cryptomatte object pass by the C kernel, named and categorised from the
scene, with their poses, 3D boxes and projected corners; the Cryptomatte
manifests; optical flow from the vector pass."""
import bpy
import numpy as np

from .. import _lib
from .._errors import PassError, SceneError
from .meta import view_params

INSTANCE_PASS = "cryptomatte_object_00"
FLOWS = ("flow_forward", "flow_backward")
MAX_INSTANCES = 1 << 20  # a bound on the kernel's memory, far above any real frame
# OpenCV's camera frame is Blender's turned 180 degrees about X.
BLENDER_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])
KEYPOINT_NAMES = [f"corner_{i}" for i in range(8)]
# bound_box order: (-x,-y,-z) (-x,-y,+z) (-x,+y,+z) (-x,+y,-z) (+x,-y,-z) (+x,-y,+z) (+x,+y,+z) (+x,+y,-z)
SKELETON = [[a + 1, b + 1] for a, b in ((0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7),
                                        (7, 4), (0, 4), (1, 5), (2, 6), (3, 7))]

_ids = {}  # name -> Cryptomatte id: a pure function of the name


def cryptomatte_id(name):
    got = _ids.get(name)
    if got is None:
        got = _ids[name] = _lib.cryptomatte_id(_lib.cryptomatte_hash(name))
    return got


def check_engine(scene):
    if scene.render.engine == "BLENDER_WORKBENCH":
        raise PassError("annotations come from the Cryptomatte object pass, which Workbench "
                        "does not render: use engine CYCLES or EEVEE")


def check_flow(scene):
    if scene.render.engine == "CYCLES" and scene.render.use_motion_blur:
        raise SceneError("optical flow comes from the vector pass, which Cycles renders only "
                         "without motion blur: turn off scene.render.use_motion_blur")


def _rows(m):
    return [[float(x) for x in row] for row in m]


def _category(ob):
    """(category id or None, its name or None) of an object (docs/labels.md)."""
    cid = ob.get("category_id")
    if cid is not None:
        if isinstance(cid, bool) or not isinstance(cid, int) or cid < 0:
            raise SceneError(f"object {ob.name!r}: custom property category_id must be a "
                             f"non-negative integer, not {cid!r}")
    elif ob.pass_index:
        cid = ob.pass_index
    name = ob.get("category_name")
    return cid, (str(name) if name is not None else None)


def categories(scene):
    """Every category of the scene's objects: [{"id", "name"}], by id."""
    names = {}
    for ob in sorted(scene.objects, key=lambda o: o.name):
        cid, name = _category(ob)
        if cid is not None and (names.get(cid) is None):
            names[cid] = name
    return [{"id": cid, "name": names[cid] if names[cid] is not None else str(cid)}
            for cid in sorted(names)]


def _objects_by_id(scene):
    """Cryptomatte id -> object, for every object of the scene. Blender hashes an
    object's name; a linked object's may carry its library, so both are mapped."""
    found = {}
    for ob in scene.objects:
        for name in {ob.name, ob.name_full}:
            i = cryptomatte_id(name)
            other = found.get(i)
            if other is not None and other != ob:
                raise SceneError(f"objects {other.name!r} and {ob.name!r} have the same "
                                 "Cryptomatte id (their names' hashes collide), so their pixels "
                                 "cannot be told apart: rename one of them")
            found[i] = ob
    return found


def _keypoints(corners, proj, width, height):
    out = []
    if proj is None:
        return [0.0, 0.0, 0] * len(corners)
    fx, fy, cx, cy, persp = proj
    for x, y, z in corners:
        if persp:
            if z <= 0:
                out += [0.0, 0.0, 0]  # behind the camera: not labelled
                continue
            u, v = fx * x / z + cx, fy * y / z + cy
        else:
            u, v = fx * x + cx, fy * y + cy
        inside = z > 0 and 0 <= u < width and 0 <= v < height
        out += [float(u), float(v), 2 if inside else 1]
    return out


def annotate(scene, crypto, width, height):
    """frame.meta["annotations"] from the (H, W, 4) Cryptomatte object pass."""
    # the rank-0 ids, read in place by the kernel (pixels 16 bytes apart): no copy
    found = _lib.instances(crypto[..., 0].view(np.uint32), max_instances=MAX_INSTANCES)
    by_id = _objects_by_id(scene) if found else {}
    cam = scene.camera
    # the renderers drop the camera's scale (as frame_meta's world_to_camera does)
    w2c = np.array(cam.matrix_world.normalized().inverted(), dtype=np.float64)
    proj = view_params(scene, cam)
    depsgraph = bpy.context.evaluated_depsgraph_get()
    instances = []
    for inst in found:
        ob = by_id.get(inst["id"])
        if ob is None:
            raise SceneError(f"the Cryptomatte pass holds id {inst['id']:#010x} in "
                             f"{inst['area']} pixels, which is no object of scene "
                             f"{scene.name!r}: its pixels cannot be named")
        ev = ob.evaluated_get(depsgraph)
        o2w = np.array(ev.matrix_world, dtype=np.float64)
        o2c = w2c @ o2w
        o2c_cv = BLENDER_TO_CV @ o2c
        local = np.array([tuple(c) for c in ev.bound_box], dtype=np.float64)
        corners = (o2c_cv[:3, :3] @ local.T).T + o2c_cv[:3, 3]
        cid, _ = _category(ob)
        instances.append({
            "id": inst["id"], "name": ob.name, "category_id": cid,
            "area": inst["area"], "bbox": inst["bbox"],
            "segmentation": {"size": [height, width], "counts": inst["counts"]},
            "object_to_world": _rows(o2w), "object_to_camera": _rows(o2c),
            "object_to_camera_cv": _rows(o2c_cv), "corners_camera_cv": _rows(corners),
            "keypoints": _keypoints(corners, proj, width, height)})
    return {"instances": instances, "categories": categories(scene),
            "keypoints": {"names": KEYPOINT_NAMES, "skeleton": SKELETON},
            "instance_pass": INSTANCE_PASS}


def manifests(scene, kinds):
    """The Cryptomatte manifests (name -> 8 hex digits, as Blender's EXR headers
    hold them) of the kinds captured: "object", "material", "asset". Names of the
    whole scene: Blender's list only what it rendered, a subset."""
    out = {}
    for kind in kinds:
        if kind == "object":
            names = {ob.name for ob in scene.objects}
        elif kind == "material":
            names = {slot.material.name for ob in scene.objects for slot in ob.material_slots
                     if slot.material is not None}
        else:  # an asset: the root of an object's parent chain
            names = set()
            for ob in scene.objects:
                while ob.parent is not None:
                    ob = ob.parent
                names.add(ob.name)
        out[kind] = {n: f"{_lib.cryptomatte_hash(n):08x}" for n in sorted(names)}
    return out
