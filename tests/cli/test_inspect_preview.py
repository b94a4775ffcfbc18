"""`blendarray inspect` and `blendarray preview` on files NumPy writes, and
NumPy on the files the library writes (.npz writer and stacked .npy, called
through ctypes): the cross-checks the C tests cannot make without NumPy.

The binary is build/dev/blendarray and the library build/dev/libblendarray.so
(the build folder of the editable install, brought up to date first)."""
import ctypes
import json
import math
import os
import re
import subprocess

import numpy as np
import pytest
from PIL import Image

from conftest import DEV

BIN = os.path.join(DEV, "blendarray")
LIB = os.path.join(DEV, "libblendarray.so")

H, W = 6, 8
GAP = 4
GAP_RGB = (40, 40, 40)
VIRIDIS_LO = (68, 1, 84)
VIRIDIS_HI = (253, 231, 37)


@pytest.fixture(scope="session")
def blendarray(cli):
    assert cli == BIN and os.access(BIN, os.X_OK)
    return BIN


@pytest.fixture(scope="session")
def lib(cli):  # (the cli fixture brings the build up to date)
    lib = ctypes.CDLL(LIB)
    u64p = ctypes.POINTER(ctypes.c_uint64)
    vp = ctypes.c_void_p
    lib.ba_npz_open.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_int, ctypes.c_int]
    lib.ba_npz_add_array.argtypes = [vp, ctypes.c_char_p, ctypes.c_int, ctypes.c_int, u64p, vp,
                                     ctypes.c_size_t]
    lib.ba_npz_add_npy_file.argtypes = [vp, ctypes.c_char_p, ctypes.c_char_p]
    lib.ba_npz_finish.argtypes = [vp]
    lib.ba_npy_stack_open.argtypes = [ctypes.POINTER(vp), ctypes.c_char_p, ctypes.c_int,
                                      ctypes.c_int, u64p, ctypes.c_int]
    lib.ba_npy_stack_append.argtypes = [vp, vp, ctypes.c_size_t]
    lib.ba_npy_stack_finish.argtypes = [vp]
    return lib


def run(*args, cwd=None):
    return subprocess.run([BIN, *map(str, args)], capture_output=True, text=True, cwd=cwd)


def listing(d):
    return sorted(os.listdir(d))


def assert_one_line_error(r, *words):
    assert r.returncode == 1, (r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("blendarray: "), r.stderr
    for w in words:
        assert w in lines[0], r.stderr


# ---------------------------------------------------------------------------
# inspect


def parse_inspect(stdout):
    """{file: {name: {"shape":..., "dtype":..., "min":..., ...}}}"""
    out, cur = {}, None
    for line in stdout.splitlines():
        if not line.startswith("  "):
            m = re.match(r"^(.*): (npy|npz), (\d+) arrays?$", line)
            assert m, line
            cur = out.setdefault(m.group(1), {})
            continue
        m = re.match(r"^  (\S+)\s+(\(.*?\))\s+(\S+)\s+(.*)$", line)
        assert m, line
        fields = dict(kv.split("=") for kv in m.group(4).split())
        fields["shape"] = m.group(2)
        fields["dtype"] = m.group(3)
        cur[m.group(1)] = fields
    return out


KNOWN = np.array([1.0, 2.0, 3.0, 6.0, np.nan, np.inf, -np.inf, np.nan], dtype="<f4").reshape(2, 4)


def test_inspect_npy_and_npz_values(blendarray, tmp_path):
    np.save(tmp_path / "known.npy", KNOWN)
    ints = np.array([[-5, 0, 7], [100, 3, 1]], dtype="<i4")
    np.savez(tmp_path / "stored.npz", known=KNOWN, ints=ints)
    np.savez_compressed(tmp_path / "deflated.npz", known=KNOWN, ints=ints)
    files = [tmp_path / "known.npy", tmp_path / "stored.npz", tmp_path / "deflated.npz"]
    r = run("inspect", *files)
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    got = parse_inspect(r.stdout)
    assert list(got) == [str(f) for f in files]
    for f, arrays in got.items():
        k = arrays["known"]
        assert k["shape"] == "(2, 4)" and k["dtype"] == "<f4"
        assert float(k["min"]) == 1 and float(k["max"]) == 6 and float(k["mean"]) == 3
        assert k["nan"] == "2" and k["inf"] == "2"
        if f.endswith(".npz"):
            i = arrays["ints"]
            assert i["dtype"] == "<i4" and i["shape"] == "(2, 3)"
            assert (i["min"], i["max"]) == ("-5", "100")
            assert math.isclose(float(i["mean"]), ints.mean(), rel_tol=1e-5)
            assert i["nan"] == "-" and i["inf"] == "-"
    # the array lines of a file are aligned: columns start at the same place
    lines = [l for l in r.stdout.splitlines() if l.startswith("  ")]
    npz_lines = lines[1:3]
    assert npz_lines[0].index("(") == npz_lines[1].index("(")
    assert npz_lines[0].index("min=") == npz_lines[1].index("min=")


def test_inspect_other_dtypes(blendarray, tmp_path):
    arrays = {
        "f8": np.array([-1.5, 2.25], "<f8"),
        "f2": np.array([0.5, 4.0, np.inf], "<f2"),
        "be": np.array([1.0, -3.0], ">f4"),
        "i8": np.array([-(2**62), 2**62], "<i8"),
        "u8": np.array([0, 2**64 - 1], "<u8"),
        "u1": np.arange(256, dtype="u1").reshape(16, 16),
        "i1": np.array([-128, 127], "i1"),
        "b": np.array([True, False, True]),
        "u16": np.array([65535, 1], "<u2"),
        "scalar": np.array(7.0, "<f4"),
        "empty": np.zeros((0, 3), "<f4"),
        "fort": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
    }
    np.savez(tmp_path / "many.npz", **arrays)
    r = run("inspect", tmp_path / "many.npz")
    assert r.returncode == 0, r.stderr
    got = parse_inspect(r.stdout)[str(tmp_path / "many.npz")]
    assert list(got) == list(arrays)
    assert (got["f8"]["min"], got["f8"]["max"]) == ("-1.5", "2.25")
    assert (got["f2"]["max"], got["f2"]["inf"]) == ("4", "1")
    assert (got["be"]["dtype"], got["be"]["min"], got["be"]["max"]) == (">f4", "-3", "1")
    assert (got["i8"]["min"], got["i8"]["max"]) == (str(-(2**62)), str(2**62))
    assert got["u8"]["max"] == str(2**64 - 1)
    assert (got["u1"]["min"], got["u1"]["max"], got["u1"]["mean"]) == ("0", "255", "127.5")
    assert (got["i1"]["min"], got["i1"]["max"]) == ("-128", "127")
    assert (got["b"]["dtype"], got["b"]["max"]) == ("|b1", "1")
    assert got["u16"]["max"] == "65535"
    assert got["scalar"]["shape"] == "()" and got["scalar"]["mean"] == "7"
    assert got["empty"]["shape"] == "(0, 3)" and got["empty"]["min"] == "-"
    assert got["fort"]["max"] == "5" and got["fort"]["dtype"] == "<f8(F)"


def test_inspect_help(blendarray):
    r = run("inspect", "--help")
    assert r.returncode == 0
    assert "usage: blendarray inspect" in r.stdout and "example" in r.stdout


def test_inspect_errors(blendarray, tmp_path):
    np.save(tmp_path / "good.npy", KNOWN)
    missing = tmp_path / "missing.npz"
    r = run("inspect", missing)
    assert_one_line_error(r, str(missing), "No such file")

    good = (tmp_path / "good.npy").read_bytes()
    cases = {
        "truncated.npy": good[:-4],
        "short_header.npy": good[:40],
        "garbage.npz": b"PK\x03\x04" + b"\x00" * 60,
        "empty.npz": b"",
        "text.npy": b"hello, world\n",
    }
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        r = run("inspect", tmp_path / name)
        assert_one_line_error(r, str(tmp_path / name))
        assert r.stdout == ""

    # a member that is not a valid .npy, in an otherwise fine zip
    import zipfile
    with zipfile.ZipFile(tmp_path / "badmember.npz", "w") as z:
        z.writestr("a.npy", good[:100])
    r = run("inspect", tmp_path / "badmember.npz")
    assert_one_line_error(r, "badmember.npz", "'a'")

    # one bad file among good ones: the good ones still shown, exit 1
    r = run("inspect", tmp_path / "good.npy", missing)
    assert r.returncode == 1
    assert "good.npy: npy, 1 array" in r.stdout
    assert len(r.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------------------
# preview


def srgb8(x):
    x = min(max(x, 0.0), 1.0)
    y = 12.92 * x if x <= 0.0031308 else 1.055 * x ** (1 / 2.4) - 0.055
    return int(math.floor(y * 255 + 0.5))


def index_colour(v):
    if v == 0:
        return (0, 0, 0)
    u = v & 0xFFFFFFFFFFFFFFFF
    x = (u ^ (u >> 32)) & 0xFFFFFFFF
    x ^= x >> 16
    x = (x * 0x7FEB352D) & 0xFFFFFFFF
    x ^= x >> 15
    x = (x * 0x846CA68B) & 0xFFFFFFFF
    x ^= x >> 16
    return tuple(55 + ((x >> (8 * c)) & 0xFF) * 200 // 255 for c in range(3))


def passes(scale=1.0):
    rgba = np.zeros((H, W, 4), "<f4")
    rgba[..., 0] = 1.0 * scale
    rgba[..., 1] = 0.5 * scale
    rgba[..., 2] = 0.0
    rgba[..., 3] = 0.25
    depth = np.linspace(1.0, 2.0, H * W, dtype="<f4").reshape(H, W) * scale
    depth[0, 0] = np.inf
    depth[0, 1] = np.nan
    normal = np.zeros((H, W, 3), "<f4")
    normal[..., 0] = -1.0
    normal[..., 2] = 1.0
    index = np.arange(H * W, dtype="<i4").reshape(H, W) * int(scale)
    return {"rgba": rgba, "depth": depth, "normal": normal, "object_index": index}


def tile_origin(k, cols=4):
    return ((k % cols) * (W + GAP), (k // cols) * (H + GAP))


def check_sheet(png, scale=1.0):
    im = Image.open(png)
    assert im.mode == "RGB"
    assert im.size == (4 * W + 3 * GAP, H)
    px = im.load()
    # rgba: linear → sRGB, alpha dropped
    x0, y0 = tile_origin(0)
    assert px[x0 + 3, y0 + 2] == (srgb8(1.0 * scale), srgb8(0.5 * scale), 0)
    # depth: colour-mapped over the finite range; inf and NaN black
    x0, y0 = tile_origin(1)
    assert px[x0 + 0, y0 + 0] == (0, 0, 0)
    assert px[x0 + 1, y0 + 0] == (0, 0, 0)
    assert px[x0 + 2, y0 + 0] == VIRIDIS_LO  # the finite minimum
    assert px[x0 + W - 1, y0 + H - 1] == VIRIDIS_HI  # the maximum
    # normal (-1, 0, 1) → (0, 128, 255)
    x0, y0 = tile_origin(2)
    assert px[x0 + 5, y0 + 5] == (0, 128, 255)
    # object_index: 0 black, others hashed
    x0, y0 = tile_origin(3)
    assert px[x0, y0] == (0, 0, 0)
    assert px[x0 + 1, y0] == index_colour(1 * int(scale))
    assert px[x0 + 3, y0 + 2] == index_colour((2 * W + 3) * int(scale))
    # the gaps
    assert px[W, 0] == GAP_RGB and px[W + GAP - 1, H - 1] == GAP_RGB


def test_preview_single_frame(blendarray, tmp_path):
    np.savez(tmp_path / "frame.npz", **passes())
    out = tmp_path / "sheet.png"
    r = run("preview", tmp_path / "frame.npz", "-o", out)
    assert r.returncode == 0, r.stderr
    check_sheet(out)
    assert listing(tmp_path) == ["frame.npz", "sheet.png"]
    assert (os.stat(out).st_mode & 0o777) == 0o666 & ~current_umask()


def current_umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_preview_frame_axis(blendarray, tmp_path):
    frames = [passes(1.0), passes(2.0), passes(3.0)]
    stacked = {k: np.stack([f[k] for f in frames]) for k in frames[0]}
    np.savez_compressed(tmp_path / "frames.npz", **stacked)
    out = tmp_path / "sheet.png"
    r = run("preview", tmp_path / "frames.npz", "-o", out)  # frame 0 by default
    assert r.returncode == 0, r.stderr
    # rgba of frame 0 at scale 1; depth's colour map is over the frame's own range
    check_sheet(out, 1.0)
    r = run("preview", tmp_path / "frames.npz", "-o", out, "--frame", 1, "--force")
    assert r.returncode == 0, r.stderr
    im = Image.open(out)
    px = im.load()
    assert px[3, 2] == (srgb8(2.0), srgb8(1.0), 0)
    assert px[tile_origin(3)[0] + 1, 0] == index_colour(2)
    r = run("preview", tmp_path / "frames.npz", "-o", tmp_path / "x.png", "--frame", 3)
    assert_one_line_error(r, "frame 3")
    assert not (tmp_path / "x.png").exists()


def test_preview_grid_and_npy(blendarray, tmp_path):
    # 6 tiles → 4 columns, 2 rows; a tile of another size is scaled to the first's
    arrays = passes()
    arrays["more_depth"] = arrays["depth"] * 2
    arrays["u8_rgba"] = np.full((H * 2, W * 2, 4), (10, 20, 30, 0), "u1")
    arrays["vector_1d"] = np.arange(5.0)  # not an image: skipped with a note
    np.savez(tmp_path / "six.npz", **arrays)
    out = tmp_path / "grid.png"
    r = run("preview", tmp_path / "six.npz", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "vector_1d" in r.stderr
    im = Image.open(out)
    assert im.size == (4 * W + 3 * GAP, 2 * H + GAP)
    px = im.load()
    x0, y0 = tile_origin(5)
    assert px[x0 + W - 1, y0 + H - 1] == (10, 20, 30)
    assert px[tile_origin(6)[0] + 1, tile_origin(6)[1] + 1] == GAP_RGB  # the empty cell

    # a single .npy: one tile of its own size
    np.save(tmp_path / "depth.npy", arrays["depth"])
    r = run("preview", tmp_path / "depth.npy", "-o", tmp_path / "one.png")
    assert r.returncode == 0, r.stderr
    im = Image.open(tmp_path / "one.png")
    assert im.size == (W, H)
    assert im.getpixel((W - 1, H - 1)) == VIRIDIS_HI


def test_preview_help(blendarray):
    r = run("preview", "--help")
    assert r.returncode == 0
    for word in ("--frame", "--force", "-o", "example"):
        assert word in r.stdout


def test_preview_errors(blendarray, tmp_path):
    np.savez(tmp_path / "frame.npz", **passes())
    src = tmp_path / "frame.npz"

    r = run("preview", tmp_path / "missing.npz", "-o", tmp_path / "a.png")
    assert_one_line_error(r, "missing.npz", "No such file")

    (tmp_path / "corrupt.npz").write_bytes(src.read_bytes()[:200])
    r = run("preview", tmp_path / "corrupt.npz", "-o", tmp_path / "a.png")
    assert_one_line_error(r, "corrupt.npz")
    assert listing(tmp_path) == ["corrupt.npz", "frame.npz"]

    # an existing output is kept unless --force
    out = tmp_path / "sheet.png"
    out.write_bytes(b"precious")
    r = run("preview", src, "-o", out)
    assert_one_line_error(r, "sheet.png", "--force")
    assert out.read_bytes() == b"precious"
    r = run("preview", src, "-o", out, "--force")
    assert r.returncode == 0, r.stderr
    check_sheet(out)

    # output directories that cannot be written: nothing left behind
    r = run("preview", src, "-o", tmp_path / "no" / "such" / "dir.png")
    assert_one_line_error(r, "dir.png")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        # permissions do not stop root: there, /proc stands in for a read-only directory
        target = ro / "x.png" if os.geteuid() != 0 else "/proc/blendarray-preview-test.png"
        r = run("preview", src, "-o", target)
        assert_one_line_error(r, "x.png" if os.geteuid() != 0 else "/proc/")
        assert listing(ro) == []
    finally:
        ro.chmod(0o755)
    assert listing(tmp_path) == ["corrupt.npz", "frame.npz", "ro", "sheet.png"]

    # usage errors
    r = run("preview", src)
    assert r.returncode == 2
    r = run("preview", src, "-o", tmp_path / "b.png", "--frame", "x")
    assert r.returncode == 2
    assert not (tmp_path / "b.png").exists()


def test_preview_leaves_the_depth_background_out_of_the_colour_map(blendarray, tmp_path):
    h, w = 30, 40
    ramp = np.linspace(5.0, 6.0, h * w, dtype="<f4").reshape(h, w)
    right = np.zeros((h, w), bool)
    right[:, w // 2:] = True  # the right half: background, or a far wall
    # Cycles and Workbench (1e10), EEVEE 3.x (65504), EEVEE Next (the clip end: a plateau at
    # the maximum, far above the rest), and a plateau that is not far above: a wall, kept
    for value, is_background in ((1e10, True), (65504.0, True), (99.99771, True), (6.5, False)):
        depth = ramp.copy()
        depth[right] = value
        np.save(tmp_path / "d.npy", depth)
        r = run("preview", tmp_path / "d.npy", "-o", tmp_path / "d.png", "--force", "--no-labels")
        assert r.returncode == 0, r.stderr
        px = np.asarray(Image.open(tmp_path / "d.png").convert("RGB"))
        if is_background:
            assert (px[right] == 0).all(), value
            # the foreground spans the whole colour map: its min low, its max high
            assert tuple(px[0, 0]) == VIRIDIS_LO and tuple(px[h - 1, w // 2 - 1]) == VIRIDIS_HI
        else:
            assert (px[right] == VIRIDIS_HI).all()
            assert tuple(px[0, 0]) == VIRIDIS_LO
    # values >= 65504 are background however few: here 9 of 1200 pixels (under the 1% of a
    # plateau, over the 0.5% the percentiles cut)
    depth = ramp.copy()
    depth.flat[::134] = 1e10
    np.save(tmp_path / "d.npy", depth)
    r = run("preview", tmp_path / "d.npy", "-o", tmp_path / "d.png", "--force", "--no-labels")
    px = np.asarray(Image.open(tmp_path / "d.png").convert("RGB"))
    assert (depth == 1e10).sum() == 9 and (px[depth == 1e10] == 0).all()
    assert tuple(px[h - 1, w - 1]) == VIRIDIS_HI and tuple(px[0, 1]) == VIRIDIS_LO
    # robust percentiles: a few outliers do not flatten the rest
    depth = ramp.copy()
    depth[0, :3] = 1000.0
    np.save(tmp_path / "d.npy", depth)
    r = run("preview", tmp_path / "d.npy", "-o", tmp_path / "d.png", "--force", "--no-labels")
    px = np.asarray(Image.open(tmp_path / "d.png").convert("RGB"))
    assert tuple(px[0, 0]) == VIRIDIS_HI and len({tuple(c) for c in px[1:].reshape(-1, 3)}) > 100


def test_preview_labels_each_tile(blendarray, tmp_path):
    h, w = 30, 40
    arrays = {"rgba": np.full((h, w, 4), 0.2, "<f4"),
              "depth": np.linspace(5.0, 6.0, h * w, dtype="<f4").reshape(h, w),
              "object_index_long_name": np.zeros((h, w), "<i4")}
    np.savez(tmp_path / "f.npz", **arrays)
    for args, png in ((["--no-labels"], "plain.png"), ([], "sheet.png")):
        r = run("preview", tmp_path / "f.npz", "-o", tmp_path / png, *args)
        assert r.returncode == 0, r.stderr
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB")).astype(int)
    sheet = np.asarray(Image.open(tmp_path / "sheet.png").convert("RGB")).astype(int)
    changed = (sheet != plain).any(axis=2)
    for k, name in enumerate(arrays):
        x0 = k * (w + GAP)
        ys, xs = np.nonzero(changed[:, x0:x0 + w])
        assert len(ys) > 0, name
        # a box of 5x8 glyphs on 6 px cells at the top-left, cut to whole glyphs in the tile
        chars = min(len(name), (w - 1) // 6)
        assert ys.max() < 10 and xs.max() < 1 + 6 * chars, (name, ys.max(), xs.max())
        assert ((sheet[:10, x0:x0 + w] == 255).all(axis=2)).sum() >= 5 * chars  # white text
    assert not changed[10:].any()
    # the box darkens what is under it; the text is white
    under, label = plain[:10, :1 + 6 * 4], sheet[:10, :1 + 6 * 4]  # "rgba": 4 glyphs
    text = (label == 255).all(axis=2)
    assert (label[~text] == under[~text] // 2).all()
    # tiles under 20 px high get no label (the small sheets above are exact)
    np.savez(tmp_path / "small.npz", depth=arrays["depth"][:19])
    r = run("preview", tmp_path / "small.npz", "-o", tmp_path / "small.png")
    r2 = run("preview", tmp_path / "small.npz", "-o", tmp_path / "small2.png", "--no-labels")
    assert r.returncode == r2.returncode == 0
    assert (tmp_path / "small.png").read_bytes() == (tmp_path / "small2.png").read_bytes()


def test_inspect_and_preview_an_npz_with_metadata(blendarray, tmp_path):
    """`blendarray render` adds a meta.json member: listed by inspect, skipped by preview."""
    import zipfile
    np.savez(tmp_path / "r.npz", **passes())
    with zipfile.ZipFile(tmp_path / "r.npz", "a") as z:
        z.writestr("meta.json", '[{"frame": 1}]')
    r = run("inspect", tmp_path / "r.npz")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"{tmp_path / 'r.npz'}: npz, 4 arrays"
    assert lines[-1].split() == ["meta.json", "(a", "file,", "not", "an", "array)"]
    got = parse_inspect("\n".join(lines[:-1]))
    assert sorted(got[str(tmp_path / "r.npz")]) == ["depth", "normal", "object_index", "rgba"]
    r = run("preview", tmp_path / "r.npz", "-o", tmp_path / "s.png")
    assert r.returncode == 0 and r.stderr == "", r.stderr
    check_sheet(tmp_path / "s.png")


# ---------------------------------------------------------------------------
# NumPy reads what the library writes


BA_F32, BA_F16, BA_U8, BA_I32, BA_U16 = range(5)


def shape_arg(shape):
    return (ctypes.c_uint64 * max(len(shape), 1))(*shape)


@pytest.mark.parametrize("compress", [0, 1])
def test_numpy_loads_library_npz(lib, tmp_path, compress):
    rgba = np.random.default_rng(1).random((5, 7, 4), dtype=np.float32)
    index = np.arange(35, dtype="<i4").reshape(5, 7) - 3
    half = np.linspace(-2, 2, 9).astype("<f2")
    member = np.arange(12, dtype="<u2").reshape(3, 4)
    np.save(tmp_path / "member.npy", member)

    path = str(tmp_path / "out.npz").encode()
    w = ctypes.c_void_p()
    assert lib.ba_npz_open(ctypes.byref(w), path, compress, 0) == 0
    for name, dt, arr in (("rgba", BA_F32, rgba), ("object_index", BA_I32, index),
                          ("half", BA_F16, half), ("empty", BA_U8, np.zeros((0, 2), "u1"))):
        arr = np.ascontiguousarray(arr)
        rc = lib.ba_npz_add_array(w, name.encode(), dt, arr.ndim, shape_arg(arr.shape),
                                  arr.ctypes.data, arr.nbytes)
        assert rc == 0, name
    assert lib.ba_npz_add_npy_file(w, b"member", str(tmp_path / "member.npy").encode()) == 0
    assert lib.ba_npz_finish(w) == 0
    assert sorted(os.listdir(tmp_path)) == ["member.npy", "out.npz"]

    import zipfile
    with zipfile.ZipFile(tmp_path / "out.npz") as z:
        kinds = {i.filename: i.compress_type for i in z.infolist()}
    want = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    assert kinds == {n + ".npy": want for n in ("rgba", "object_index", "half", "empty", "member")}

    with np.load(tmp_path / "out.npz") as z:
        assert z.files == ["rgba", "object_index", "half", "empty", "member"]
        np.testing.assert_array_equal(z["rgba"], rgba)
        np.testing.assert_array_equal(z["object_index"], index)
        np.testing.assert_array_equal(z["half"], half)
        assert z["empty"].shape == (0, 2) and z["empty"].dtype == np.uint8
        np.testing.assert_array_equal(z["member"], member)


def test_numpy_loads_empty_library_npz(lib, tmp_path):
    w = ctypes.c_void_p()
    assert lib.ba_npz_open(ctypes.byref(w), str(tmp_path / "e.npz").encode(), 0, 0) == 0
    assert lib.ba_npz_finish(w) == 0
    with np.load(tmp_path / "e.npz") as z:
        assert z.files == []


@pytest.mark.parametrize("frames", [0, 1, 4])
def test_numpy_maps_library_stack(lib, tmp_path, frames):
    data = np.arange(frames * 3 * 5 * 4, dtype="<f4").reshape(frames, 3, 5, 4)
    path = str(tmp_path / "stack.npy").encode()
    st = ctypes.c_void_p()
    assert lib.ba_npy_stack_open(ctypes.byref(st), path, BA_F32, 3, shape_arg((3, 5, 4)), 0) == 0
    for f in range(frames):
        frame = np.ascontiguousarray(data[f])
        assert lib.ba_npy_stack_append(st, frame.ctypes.data, frame.nbytes) == 0
    assert lib.ba_npy_stack_finish(st) == 0
    assert os.listdir(tmp_path) == ["stack.npy"]
    m = np.load(tmp_path / "stack.npy", mmap_mode="r")
    assert m.shape == (frames, 3, 5, 4) and m.dtype == np.float32
    np.testing.assert_array_equal(m, data)
    # the header is exactly what np.save writes for that array
    ref = tmp_path / "ref.npy"
    np.save(ref, data)
    assert ref.read_bytes() == (tmp_path / "stack.npy").read_bytes()


# ---------------------------------------------------------------------------
# labels (docs/labels.md): inspect's summary, preview --annotations


def labelled_npz(path, h=24, w=32):
    """An .npz as `render --coco ... -o` writes it: one frame's display image (grey
    100) and a meta.json whose frame carries two instances (COCO RLE masks made by
    pycocotools), one without a category."""
    import zipfile
    from pycocotools import mask as mask_util
    masks = [np.zeros((h, w), np.uint8), np.zeros((h, w), np.uint8)]
    masks[0][5:15, 8:20] = 1
    masks[0][5:8, 8:11] = 0   # not a plain rectangle
    masks[1][18:22, 25:30] = 1
    insts = []
    for k, (m, cat) in enumerate(zip(masks, [7, None])):
        rle = mask_util.encode(np.asfortranarray(m))
        insts.append({"id": 1000 + k, "name": f"obj{k}", "category_id": cat,
                      "area": int(m.sum()), "bbox": [int(v) for v in mask_util.toBbox(rle)],
                      "segmentation": {"size": [h, w], "counts": rle["counts"].decode()},
                      "keypoints": []})
    ann = {"instances": insts, "categories": [{"id": 7, "name": "widget"}],
           "keypoints": {"names": [], "skeleton": []}, "instance_pass": "cryptomatte_object_00"}
    np.savez(path, display=np.full((1, h, w, 4), 100, np.uint8))
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("meta.json", json.dumps([{"frame": 1, "annotations": ann}]))
    return masks, insts


def test_inspect_sums_up_labels(blendarray, tmp_path):
    labelled_npz(tmp_path / "l.npz")
    r = run("inspect", tmp_path / "l.npz")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == "  labels: 1 frame, 2 instances; by category: widget=1, none=1"


def test_preview_annotations_draws_masks_and_boxes(blendarray, tmp_path):
    masks, insts = labelled_npz(tmp_path / "l.npz")
    for args, png in ((["--no-labels"], "plain.png"), (["--no-labels", "--annotations"], "ann.png")):
        r = run("preview", tmp_path / "l.npz", "-o", tmp_path / png, *args)
        assert r.returncode == 0, r.stderr
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB")).astype(int)
    ann = np.asarray(Image.open(tmp_path / "ann.png").convert("RGB")).astype(int)
    assert (plain == 100).all()
    assert not np.array_equal(plain, ann)
    assert insts[0]["category_id"] is not None and insts[1]["category_id"] is None
    m, inst = masks[0], insts[0]
    x, y, bw, bh = inst["bbox"]
    outline = np.zeros(m.shape, bool)
    outline[y:y + bh, x:x + bw] = True
    outline[y + 1:y + bh - 1, x + 1:x + bw - 1] = False
    colour = ann[y, x]
    assert (colour != 100).any()
    assert (ann[outline] == colour).all()              # the box, in the instance's colour
    inside = (m == 1) & ~outline
    assert (ann[inside] == (100 + colour + 1) // 2).all()  # the mask, tinted
    covered = np.zeros(m.shape, bool)
    covered[y:y + bh, x:x + bw] = True
    # nothing else changed: the instance without a category (COCO leaves it out) neither
    assert masks[1].sum() > 0 and not (covered & (masks[1] == 1)).any()
    assert (ann[~covered] == 100).all()
    # without labels in the file: a clear error, no file
    np.savez(tmp_path / "bare.npz", display=np.zeros((1, 4, 4, 4), np.uint8))
    r = run("preview", tmp_path / "bare.npz", "-o", tmp_path / "bare.png", "--annotations")
    assert_one_line_error(r, "--annotations", "meta.json")
    assert not (tmp_path / "bare.png").exists()


FLOOR_HOOK = """
def floor_without_category(scene, index, rng):
    # the demo's ground as most floors are: no category_id, pass_index 0
    scene.objects["Ground"].pass_index = 0
"""


def test_preview_annotations_leave_an_uncategorised_floor_alone(blendarray, demo_blend, tmp_path):
    """A real render whose floor has no category (issue 22: the whole tile turned
    one colour): only the categorised objects are tinted. Where each object lies
    comes from Blender's own object-index pass (Cycles, 1 sample: the same sample
    as Cryptomatte's), not from the annotations."""
    hook = tmp_path / "floor.py"
    hook.write_text(FLOOR_HOOK)
    out = tmp_path / "l.npz"
    r = run("render", demo_blend(), "-e", "cycles", "-s", "1", "--size", "64x48", "-f", "1",
            "-p", "rgba,object_index", "--annotations", "--setup", f"{hook}:floor_without_category",
            "-q", "-o", out)
    assert r.returncode == 0, r.stderr
    for args, png in ((["--no-labels"], "plain.png"), (["--no-labels", "--annotations"], "ann.png")):
        r = run("preview", out, "-o", tmp_path / png, *args)
        assert r.returncode == 0, r.stderr
    import zipfile
    with zipfile.ZipFile(out) as zf:
        meta = json.loads(zf.read("meta.json"))
        arrays = [n[:-4] for n in zf.namelist() if n.endswith(".npy")]
    with np.load(out) as z:
        oi = z["object_index"].reshape(48, 64)
    k = arrays.index("rgba")
    assert k < 4  # on the sheet's first row
    tile = (slice(0, 48), slice(k * (64 + GAP), k * (64 + GAP) + 64))
    plain = np.asarray(Image.open(tmp_path / "plain.png").convert("RGB"))[tile].astype(int)
    ann = np.asarray(Image.open(tmp_path / "ann.png").convert("RGB"))[tile].astype(int)
    changed = (plain != ann).any(-1)
    insts = meta[0]["annotations"]["instances"]
    assert sorted(i["name"] for i in insts if i["category_id"] is None) == ["Ground"]
    outline = np.zeros(oi.shape, bool)
    for i in insts:
        if i["category_id"] is not None:
            x, y, bw, bh = i["bbox"]
            outline[y:y + bh, x:x + bw] = True
            outline[y + 1:y + bh - 1, x + 1:x + bw - 1] = False
    floor, objects = oi == 0, oi > 0
    assert floor.mean() > 0.7 and objects.sum() > 100  # the floor fills most of the image
    assert changed[floor & ~outline].mean() < 0.01, changed[floor & ~outline].mean()
    assert changed[objects].mean() > 0.95, changed[objects].mean()
