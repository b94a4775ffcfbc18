"""Camera matrices over random cameras: blendarray's camera metadata (K,
world_to_camera, world_to_camera_cv) and the annotations' keypoints against
Blender's own projection, inside Blender, on each flavour.

The cameras: a batch drawn by NumPy's default_rng(SEED) (perspective and
orthographic, lens, ortho scale and sensor sizes, sensor fit AUTO / HORIZONTAL /
VERTICAL, lens shift, pixel aspect, resolution percentage, landscape and portrait
resolutions, pose, sometimes a scaled camera) and a fixed list of the cases that
are easy to get wrong (_edge_cases). Each comes with world points spread over and
around its frame, in front of it, and a box whose corners are the keypoints.
One Blender run per flavour (blender_scripts/camera_props.py, cached) sets each
camera up, asks blendarray's in-Blender code (blendarray.blender.meta.frame_meta
and view_params, blendarray.blender.labels.annotate on a Cryptomatte pass that is
the box everywhere) and Blender's own projections of the same points:
bpy_extras.object_utils.world_to_camera_view, and the camera's
calc_matrix_camera(depsgraph, x=W, y=H, scale_x=pixel_aspect_x,
scale_y=pixel_aspect_y) after matrix_world.normalized().inverted().

TOL_PX: Blender keeps matrices and camera settings in single precision, and
mathutils computes in it (world_to_camera_view all along, matrix_world.inverted()
for blendarray's matrices): a point's direction from the camera carries an error
of a few 2^-24 rad, which the projection turns into pixels at the focal length in
pixels (up to ~9300 px in this batch): a few 1e-4 px. Measured: blendarray within
5.8e-4 px of world_to_camera_view and 3.9e-4 px of calc_matrix_camera (computed
in double from Blender's single-precision matrices), the two references within
6.9e-4 px of each other. A real mistake (a shift, a fit, a pixel aspect, a
rounded size, the camera's scale) moves points by a pixel or more, most by tens.
Depths are compared relatively (1e-5).
"""
import functools
import json
import os
import tempfile

import numpy as np
import pytest

from support import SCRIPTS, In, Out, assert_version, blender_output

# One Blender run per flavour: under pytest-xdist (--dist loadgroup) the file's tests
# stay in one process, where results() keeps the run's answer.
pytestmark = pytest.mark.xdist_group("test_props_camera.py")

SEED = 20240611
N_RANDOM = 48
TOL_PX = 1e-3
N_POINTS = 12


def _rotation(rng):
    """A uniformly random rotation (a normalised Gaussian quaternion)."""
    w, x, y, z = (q := rng.normal(size=4)) / np.linalg.norm(q)
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
                     [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
                     [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _affine(rot, loc, scale=(1.0, 1.0, 1.0)):
    m = np.eye(4)
    m[:3, :3] = rot @ np.diag(scale)
    m[:3, 3] = loc
    return m


def _camera(rng, name, **fixed):
    """One camera (camera_props.py's input), random but for `fixed`."""
    c = {
        "name": name,
        "type": "ORTHO" if rng.random() < 0.3 else "PERSP",
        "lens": float(rng.uniform(12, 100)),
        "ortho_scale": float(rng.uniform(1, 20)),
        "sensor_width": float(rng.uniform(8, 50)),
        "sensor_height": float(rng.uniform(8, 50)),
        "sensor_fit": str(rng.choice(["AUTO", "HORIZONTAL", "VERTICAL"])),
        "shift_x": float(rng.uniform(-0.6, 0.6)) if rng.random() < 0.7 else 0.0,
        "shift_y": float(rng.uniform(-0.6, 0.6)) if rng.random() < 0.7 else 0.0,
        "pixel_aspect": [1.0, 1.0],
        "camera_scale": [1.0, 1.0, 1.0],
    }
    kind = rng.random()
    if kind < 0.4:
        c["pixel_aspect"] = [float(rng.uniform(1, 3)), 1.0]
    elif kind < 0.6:
        c["pixel_aspect"] = [1.0, float(rng.uniform(1, 3))]
    elif kind < 0.7:
        c["pixel_aspect"] = [float(rng.uniform(1, 3)), float(rng.uniform(1, 3))]
    if rng.random() < 0.85:  # a percentage that scales exactly (sizes of multiples of 4)
        res = [int(rng.integers(4, 401)) * 4, int(rng.integers(4, 401)) * 4]
        pct = int(rng.choice([25, 50, 75, 100, 100, 100, 150, 200]))
        if max(res) * pct > 200000:
            pct = 100
    else:  # and one that does not: Blender rounds the size down
        res = [int(rng.integers(16, 1601)), int(rng.integers(16, 1601))]
        pct = int(rng.integers(10, 101))
    c["resolution"], c["percentage"] = res, pct
    if rng.random() < 0.15:
        c["camera_scale"] = [float(s) for s in rng.uniform(0.3, 3, size=3)]
    c.update(fixed)
    # the pose: the camera at most 2 units from the origin, turned anyhow
    rigid = _affine(_rotation(rng), rng.uniform(-2, 2, size=3))
    c["matrix_world"] = _affine(rigid[:3, :3], rigid[:3, 3], c["camera_scale"]).tolist()
    # points in the camera's frame (Blender's: looking down -Z), then in the world:
    # over the frame and a little beyond its edges. The frame's extent, roughly
    # (only to place the points: per unit of depth for a perspective camera), and
    # the points where it is 1.5 to 6 units across.
    w, h = (r * c["percentage"] // 100 * a for r, a in zip(c["resolution"], c["pixel_aspect"]))
    fit = c["sensor_fit"]
    size = c["sensor_height"] if fit == "VERTICAL" else c["sensor_width"]
    size = size / c["lens"] if c["type"] == "PERSP" else c["ortho_scale"]
    ex, ey = (size, size * h / w) if fit == "HORIZONTAL" or (fit == "AUTO" and w >= h) \
        else (size * w / h, size)
    xy = (rng.uniform(-0.65, 0.65, size=(N_POINTS, 2)) * [ex, ey]
          + [c["shift_x"] * size, c["shift_y"] * size])
    if c["type"] == "PERSP":
        d = rng.uniform(1.5, 6, size=N_POINTS) / max(ex, ey)
        xy *= d[:, None]
    else:
        d = rng.uniform(0.1, 3, size=N_POINTS) * size
    local = np.c_[xy, -d, np.ones(N_POINTS)]
    c["points"] = (rigid @ local.T).T[:, :3].tolist()
    # a box in front of the camera, turned and stretched anyhow, at most a quarter
    # of its distance across; or (straddle) the cube of half-size 1 around the
    # camera, lined up with it: 4 corners 1 unit in front of it, 4 behind
    depth = float(np.median(d))
    s = 0.25 * min(depth, depth * min(ex, ey) if c["type"] == "PERSP" else min(ex, ey))
    if c.get("straddle"):
        box = rigid
        lo, hi = -np.ones(3), np.ones(3)
    else:
        centre = rigid @ [*rng.uniform(-s, s, size=2), -depth, 1.0]
        box = _affine(_rotation(rng), centre[:3], rng.uniform(0.5, 1.5, size=3))
        lo, hi = rng.uniform(-s, -0.1 * s, size=3), rng.uniform(0.1 * s, s, size=3)
    # the bound_box order (docs/labels.md): bit 2 of the corner's index is x, then
    # (-y,-z) (-y,+z) (+y,+z) (+y,-z)
    corners = [[(hi if sx else lo)[0], (hi if sy else lo)[1], (hi if sz else lo)[2]]
               for sx in (0, 1) for sy, sz in ((0, 0), (0, 1), (1, 1), (1, 0))]
    c["box"] = {"min": lo.tolist(), "max": hi.tolist(), "matrix_world": box.tolist(),
                "corners_world": (box @ np.c_[corners, np.ones(8)].T).T[:, :3].tolist()}
    return c


def _edge_cases(rng):
    """The cases drawn on purpose, each named for what it checks: square pixels and
    an unscaled camera unless the case says otherwise, the rest (lens, sensor
    sizes, pose, points) random."""
    def edge(name, kind, fit, shift, res, pct=100, **kw):
        kw = {"pixel_aspect": [1.0, 1.0], "camera_scale": [1.0, 1.0, 1.0], **kw}
        return _camera(rng, name, type=kind, sensor_fit=fit, shift_x=shift[0], shift_y=shift[1],
                       resolution=res, percentage=pct, **kw)

    p, o = "PERSP", "ORTHO"
    return [
        edge("shift with VERTICAL fit", p, "VERTICAL", (0.23, -0.31), [640, 480]),
        edge("shift with VERTICAL fit, portrait", p, "VERTICAL", (-0.2, 0.4), [360, 800]),
        edge("portrait with AUTO fit", p, "AUTO", (0.15, 0.1), [480, 854]),
        edge("portrait with HORIZONTAL fit", p, "HORIZONTAL", (0.1, -0.25), [600, 1000]),
        edge("landscape with AUTO fit", p, "AUTO", (-0.3, 0.2), [1000, 400]),
        edge("pixel aspect 2:1", p, "AUTO", (0.1, 0.2), [640, 360], pixel_aspect=[2.0, 1.0]),
        edge("pixel aspect 1:2 turns AUTO vertical", p, "AUTO", (0.1, -0.2), [400, 300],
             pixel_aspect=[1.0, 2.0]),
        edge("pixel aspect 2:1 with VERTICAL fit", p, "VERTICAL", (-0.15, 0.3), [500, 500],
             pixel_aspect=[2.0, 1.0]),
        edge("resolution percentage 50", p, "AUTO", (0.05, 0.1), [1920, 1080], 50),
        edge("resolution percentage 50, odd sizes", p, "AUTO", (0.2, -0.1), [1001, 667], 50),
        edge("resolution percentage 200", p, "HORIZONTAL", (0.0, 0.3), [320, 240], 200),
        edge("orthographic with shift", o, "AUTO", (0.3, -0.2), [800, 600]),
        edge("orthographic with shift, portrait, VERTICAL fit", o, "VERTICAL", (-0.25, 0.35),
             [480, 640]),
        edge("orthographic with shift and pixel aspect 1:2", o, "AUTO", (0.2, 0.2), [640, 480],
             50, pixel_aspect=[1.0, 2.0]),
        edge("a box around the camera", p, "AUTO", (0.0, 0.0), [640, 480], lens=20.0,
             sensor_width=36.0, straddle=True),
        edge("a box around an orthographic camera", o, "AUTO", (0.1, 0.0), [640, 480],
             ortho_scale=4.0, straddle=True),
        # the renderers drop the camera's scale (Cycles, EEVEE, Workbench)
        edge("scaled camera", p, "AUTO", (0.1, 0.1), [640, 480], camera_scale=[2.0, 0.5, 1.5]),
        edge("scaled orthographic camera", o, "AUTO", (0.1, -0.1), [640, 480],
             camera_scale=[2.0, 2.0, 2.0]),
    ]


@functools.lru_cache(maxsize=None)
def cameras():
    rng = np.random.default_rng(SEED)
    return _edge_cases(rng) + [_camera(rng, f"random {i}") for i in range(N_RANDOM)]


@functools.lru_cache(maxsize=None)
def results(flavour):
    """camera_props.py's answer for cameras(), from one (cached) Blender run."""
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "cameras.json")
        with open(path, "w") as f:
            json.dump({"cameras": cameras()}, f)
        made = blender_output(flavour, os.path.join(SCRIPTS, "camera_props.py"), In(path),
                              Out("out.json"))
    with open(made / "out.json") as f:
        got = json.load(f)
    assert_version(flavour, got)
    assert len(got["cameras"]) == len(cameras())
    return got["cameras"]


def _size(c):
    return [r * c["percentage"] // 100 for r in c["resolution"]]


def _exact(c):
    """The percentage scales the resolution exactly. world_to_camera_view follows the
    camera's view_frame, which takes the full resolution's aspect: where Blender
    rounds the scaled size down, the rendered frame's aspect differs from it (by
    less than a pixel), and only calc_matrix_camera at the rendered size is the
    reference."""
    return all(r * c["percentage"] % 100 == 0 for r in c["resolution"])


def _why(c):
    keys = ("type", "sensor_fit", "shift_x", "shift_y", "resolution", "percentage",
            "pixel_aspect", "lens", "ortho_scale", "sensor_width", "sensor_height", "camera_scale")
    return f"{c['name']}: " + ", ".join(f"{k}={c[k]}" for k in keys)


def _references(c, got):
    """[(name, (N, 3) reference u, v, depth)] for the points then the box's corners."""
    refs = [("calc_matrix_camera", np.array(got["by_matrix"]))]
    if _exact(c):
        refs.append(("world_to_camera_view", np.array(got["by_view"])))
    return refs


def _project(got, points):
    """The points in pixels (u, v) and their depth, as a user of the frame's metadata
    projects them: K @ world_to_camera_cv (docs/labels.md) for a perspective camera;
    for an orthographic one (K is None) the projection the annotations use."""
    p = np.c_[points, np.ones(len(points))]
    cv = (np.array(got["world_to_camera_cv"]) @ p.T).T[:, :3]
    if got["K"] is not None:
        uvw = (np.array(got["K"]) @ cv.T).T
        return uvw[:, :2] / uvw[:, 2:], cv[:, 2]
    fx, fy, cx, cy, persp = got["view_params"]
    assert not persp
    return np.c_[fx * cv[:, 0] + cx, fy * cv[:, 1] + cy], cv[:, 2]


def test_the_batch_holds_the_cases_asked_for():
    cams = cameras()
    names = {c["name"] for c in cams}
    for must in ("shift with VERTICAL fit", "portrait with AUTO fit", "pixel aspect 2:1",
                 "resolution percentage 50", "orthographic with shift"):
        assert must in names
    rnd = [c for c in cams if c["name"].startswith("random")]
    for ok in (lambda c: c["type"] == "ORTHO", lambda c: c["type"] == "PERSP",
               lambda c: c["resolution"][0] < c["resolution"][1],
               lambda c: c["resolution"][0] > c["resolution"][1],
               lambda c: c["percentage"] != 100, lambda c: not _exact(c),
               lambda c: c["pixel_aspect"][0] != c["pixel_aspect"][1],
               lambda c: c["camera_scale"] != [1.0, 1.0, 1.0]):
        assert any(ok(c) for c in rnd)
    for fit in ("AUTO", "HORIZONTAL", "VERTICAL"):
        assert any(c["sensor_fit"] == fit and c["shift_y"] != 0 for c in rnd)


def test_the_references_agree(flavour):
    """Blender's two projections agree: what the others compare with is Blender's."""
    for c, got in zip(cameras(), results(flavour)):
        assert got["size"] == _size(c)
        if _exact(c):
            a, b = np.array(got["by_matrix"]), np.array(got["by_view"])
            assert np.abs(a[:, :2] - b[:, :2]).max() < TOL_PX, _why(c)
            assert np.allclose(a[:, 2], b[:, 2], rtol=1e-5, atol=1e-5), _why(c)


def test_metadata_projects_points_where_blender_does(flavour):
    for c, got in zip(cameras(), results(flavour)):
        assert got["resolution"] == _size(c), _why(c)
        assert (got["K"] is None) == (c["type"] == "ORTHO"), _why(c)
        uv, depth = _project(got, c["points"])
        for name, ref in _references(c, got):
            ref = ref[:N_POINTS]
            err = np.abs(uv - ref[:, :2]).max()
            assert err < TOL_PX, f"{name}: off by {err:.4g} px; {_why(c)}"
            assert np.allclose(depth, ref[:, 2], rtol=1e-5, atol=1e-5), f"{name}: {_why(c)}"


def test_extrinsics_are_blenders_view(flavour):
    """world_to_camera is Blender's view matrix (rigid: the renderers drop the
    camera's scale), the OpenCV one its turn about X, camera_to_world_cv its inverse."""
    cv = np.diag([1.0, -1.0, -1.0, 1.0])
    for c, got in zip(cameras(), results(flavour)):
        w2c, w2c_cv = np.array(got["world_to_camera"]), np.array(got["world_to_camera_cv"])
        assert np.allclose(w2c, np.array(got["blender_view"]), atol=1e-5), _why(c)
        assert np.allclose(w2c[:3, :3] @ w2c[:3, :3].T, np.eye(3), atol=1e-5), _why(c)
        assert np.allclose(w2c_cv, cv @ w2c, atol=1e-6), _why(c)
        assert np.allclose(np.array(got["camera_to_world_cv"]) @ w2c_cv, np.eye(4), atol=1e-5), _why(c)


def test_keypoints_are_where_blender_projects_the_corners(flavour):
    flags = set()
    for c, got in zip(cameras(), results(flavour)):
        w, h = _size(c)
        kp = np.array(got["keypoints"], dtype=np.float64).reshape(8, 3)
        flags |= set(kp[:, 2].tolist())
        corners = np.array(got["corners_camera_cv"])
        for name, ref in _references(c, got):
            ref = ref[N_POINTS:]
            assert np.allclose(corners[:, 2], ref[:, 2], rtol=1e-5, atol=1e-5), f"{name}: {_why(c)}"
            front = ref[:, 2] > 0
            # perspective: a corner behind the camera is not projected, (0, 0, 0);
            # orthographic: every corner is, flagged 1 behind the camera
            shown = front if c["type"] == "PERSP" else np.ones(8, bool)
            assert (kp[~shown] == 0).all(), f"{name}: a corner behind the camera; {_why(c)}"
            err = np.abs(kp[shown, :2] - ref[shown, :2]).max(initial=0.0)
            assert err < TOL_PX, f"{name}: keypoints off by {err:.4g} px; {_why(c)}"
            u, v = ref[:, 0], ref[:, 1]
            inside = front & (u >= 0) & (u < w) & (v >= 0) & (v < h)
            edge = (np.minimum.reduce([np.abs(u), np.abs(u - w), np.abs(v), np.abs(v - h)])
                    < TOL_PX)  # within the tolerance of an edge: either flag is right
            flag = np.where(inside, 2, 1)
            assert (kp[shown & ~edge, 2] == flag[shown & ~edge]).all(), f"{name}: {_why(c)}"
    assert flags == {0, 1, 2}  # behind the camera, outside the image, inside it: all seen
