"""Frame metadata: what was rendered, and the camera that rendered it."""
import bpy

from .routes import output_size


def samples_of(scene):
    engine = scene.render.engine
    if engine == "CYCLES":
        return scene.cycles.samples
    if engine.startswith("BLENDER_EEVEE"):
        return scene.eevee.taa_render_samples
    if engine == "BLENDER_WORKBENCH":
        aa = scene.display.render_aa
        return 1 if aa in ("OFF", "FXAA") else int(aa)
    return None


def view_params(scene, cam_obj):
    """(fx, fy, cx, cy, perspective): how the camera maps its OpenCV frame (x right,
    y down, looking down +Z) to pixels (x right, y down, origin at the top-left
    corner of the top-left pixel, so the image centre is (W/2, H/2)). Perspective:
    u = fx x / z + cx; orthographic: u = fx x + cx (f in pixels per unit). Follows
    Blender's sensor-fit, pixel-aspect and shift rules. None for a panoramic camera."""
    cam = cam_obj.data
    if cam.type not in ("PERSP", "ORTHO"):
        return None
    r = scene.render
    w, h = output_size(scene)
    aspect = r.pixel_aspect_y / r.pixel_aspect_x
    fit = cam.sensor_fit
    if fit == "AUTO":
        fit = "HORIZONTAL" if r.pixel_aspect_x * w >= r.pixel_aspect_y * h else "VERTICAL"
        sensor = cam.sensor_width
    else:
        sensor = cam.sensor_height if fit == "VERTICAL" else cam.sensor_width
    view = w if fit == "HORIZONTAL" else aspect * h
    if cam.type == "PERSP":
        px = view * cam.lens / sensor
    else:  # the ortho scale spans the fitted side, whatever the sensor
        px = view / cam.ortho_scale
    fx, fy = px, px / aspect
    cx = w / 2.0 - cam.shift_x * view
    cy = h / 2.0 + cam.shift_y * view / aspect
    return fx, fy, cx, cy, cam.type == "PERSP"


def intrinsics(scene, cam_obj):
    """The 3x3 pinhole matrix K in pixels (see view_params); None for a camera
    that is not perspective."""
    got = view_params(scene, cam_obj)
    if got is None or not got[4]:
        return None
    fx, fy, cx, cy, _ = got
    return [[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]]


def _rows(m):
    return [list(map(float, row)) for row in m]


def frame_meta(scene, layer_names):
    w, h = output_size(scene)
    meta = {
        "frame": scene.frame_current,
        "resolution": [w, h],
        "engine": scene.render.engine,
        "samples": samples_of(scene),
        "scene": scene.name,
        "view_layers": list(layer_names),
        "blender_version": bpy.app.version_string,
    }
    cam = scene.camera
    if cam is not None:
        # the camera's pose without its scale, as the renderers take it
        mw = cam.matrix_world.normalized()
        meta["camera"] = cam.name
        meta["K"] = intrinsics(scene, cam)
        # Blender's camera frame: looks down -Z, +Y up, +X right.
        meta["world_to_camera"] = _rows(mw.inverted())
        meta["camera_to_world"] = _rows(mw)
        # OpenCV's camera frame: looks down +Z, +Y down, +X right (docs/labels.md).
        import mathutils  # here, not at the top: the version check imports this module first
        flip = mathutils.Matrix.Diagonal((1.0, -1.0, -1.0, 1.0))
        meta["world_to_camera_cv"] = _rows(flip @ mw.inverted())
        meta["camera_to_world_cv"] = _rows(mw @ flip)
        meta["clip"] = [cam.data.clip_start, cam.data.clip_end]
    return meta
