"""Properties of blendarray's NPY and NPZ writers and readers (src/npy.c,
npyread.c, npystack.c, npz.c) on random arrays, against NumPy as the reference:
numpy.lib.format / np.save / np.load for .npy, np.savez / np.savez_compressed /
np.load and Python's zipfile for .npz, zlib for what a deflated member holds.

Python reaches the writers through blendarray.save_npy (the extension) and
blendarray._lib.NpzWriter (ctypes); the readers (ba_npy_parse_header,
ba_npz_read_*) and the stack writer have no Python wrapper, so they are called
here through ctypes on the same libblendarray.so.

Single-bit corruption: every property below flips ONE bit and asserts the exact
outcome, field by field, never "some of them fail". An .npz member's bytes are
guarded by its CRC-32 (which catches every single-bit error), its headers by
the local header having to agree with the central directory. An .npy file has
no checksum: a flipped data bit cannot be told from the original by any reader,
so there the property is that the header still says exactly the same, and a
flipped header bit is refused or read exactly as NumPy reads it.
"""
import ast
import ctypes
import io
import os
import re
import struct
import zipfile
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import blendarray as ba
from blendarray import _lib

SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

BA_OK, BA_EOVERFLOW, BA_EFORMAT, BA_EBUFSIZE = 0, 3, 5, 8
BA_DTYPES = {"float32": 0, "float16": 1, "uint8": 2, "int32": 3, "uint16": 4, "uint32": 5}
# every descr ba_npy_parse_header accepts (include/blendarray.h): what np.save writes for them
READ_DTYPES = ["|b1", "|i1", "|u1"] + [o + k for o in "<>" for k in
                                      ("i2", "i4", "i8", "u2", "u4", "u8", "f2", "f4", "f8",
                                       "c8", "c16")]

# --- ctypes: the C readers and writers Python has no wrapper for ------------------

P = ctypes.c_void_p
L = ctypes.CDLL(_lib.lib._name)  # a handle of our own: its prototypes are set here only


class NpyInfo(ctypes.Structure):  # ba_npy_info
    _fields_ = [("dtype", ctypes.c_int), ("descr", ctypes.c_char * 16),
                ("fortran_order", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.c_uint64 * 8), ("itemsize", ctypes.c_size_t),
                ("data_offset", ctypes.c_uint64), ("nbytes", ctypes.c_uint64)]


U64P = ctypes.POINTER(ctypes.c_uint64)
for _name, _res, _args in [
        ("ba_npy_parse_header", ctypes.c_int, [ctypes.c_char_p, ctypes.c_size_t,
                                               ctypes.POINTER(NpyInfo)]),
        ("ba_npy_save", ctypes.c_int, [ctypes.c_char_p, ctypes.c_int, ctypes.c_int, U64P, P,
                                       ctypes.c_size_t, ctypes.c_int]),
        ("ba_npy_stack_open", ctypes.c_int, [ctypes.POINTER(P), ctypes.c_char_p, ctypes.c_int,
                                             ctypes.c_int, U64P, ctypes.c_int]),
        ("ba_npy_stack_append", ctypes.c_int, [P, P, ctypes.c_size_t]),
        ("ba_npy_stack_finish", ctypes.c_int, [P]),
        ("ba_npz_add_npy_file", ctypes.c_int, [P, ctypes.c_char_p, ctypes.c_char_p]),
        ("ba_npz_read_open", ctypes.c_int, [ctypes.POINTER(P), ctypes.c_char_p]),
        ("ba_npz_count", ctypes.c_int, [P]),
        ("ba_npz_name", ctypes.c_char_p, [P, ctypes.c_int]),
        ("ba_npz_is_array", ctypes.c_int, [P, ctypes.c_int]),
        ("ba_npz_read", ctypes.c_int, [P, ctypes.c_int, ctypes.POINTER(NpyInfo),
                                       ctypes.POINTER(P)]),
        ("ba_npz_read_bytes", ctypes.c_int, [P, ctypes.c_int, ctypes.POINTER(P),
                                             ctypes.POINTER(ctypes.c_size_t)]),
        ("ba_npz_read_close", None, [P]),
        ("ba_free", None, [P])]:  # what the readers hand out
    getattr(L, _name).restype, getattr(L, _name).argtypes = _res, _args


def shape_arg(shape):
    return (ctypes.c_uint64 * max(1, len(shape)))(*shape)


def parse_npy(data):
    """ba_npy_parse_header of `data`: an error code, or (descr, fortran_order,
    shape, data_offset, nbytes, dtype)."""
    info = NpyInfo()
    rc = L.ba_npy_parse_header(data, len(data), ctypes.byref(info))
    if rc:
        return rc
    return (info.descr.decode(), bool(info.fortran_order), tuple(info.shape[:info.ndim]),
            info.data_offset, info.nbytes, info.dtype)


def array_of(parsed, data):
    """The array an .npy header (parse_npy) describes over the file's bytes."""
    descr, fortran, shape, offset, nbytes, _ = parsed
    flat = np.frombuffer(data, np.dtype(descr), count=int(nbytes) // np.dtype(descr).itemsize,
                         offset=int(offset))
    return flat.reshape(shape, order="F" if fortran else "C")


def read_npz(path):
    """Everything blendarray's reader makes of an .npz: ("open", code) when
    ba_npz_read_open refuses it, else ("ok", [(name, code or what was read)]):
    an array member as (descr, fortran_order, shape, data bytes), another as
    its bytes."""
    r = P()
    rc = L.ba_npz_read_open(ctypes.byref(r), os.fsencode(path))
    if rc:
        assert not r
        return ("open", rc)
    out = []
    try:
        for i in range(L.ba_npz_count(r)):
            name = L.ba_npz_name(r, i).decode("utf-8", "replace")
            d = P()
            if L.ba_npz_is_array(r, i):
                info = NpyInfo()
                rc = L.ba_npz_read(r, i, ctypes.byref(info), ctypes.byref(d))
                if rc:
                    assert not d
                    out.append((name, rc))
                    continue
                raw = ctypes.string_at(d, info.nbytes)
                L.ba_free(d)
                out.append((name, (info.descr.decode(), bool(info.fortran_order),
                                   tuple(info.shape[:info.ndim]), raw)))
            else:
                n = ctypes.c_size_t()
                rc = L.ba_npz_read_bytes(r, i, ctypes.byref(d), ctypes.byref(n))
                if rc:
                    assert not d and n.value == 0
                    out.append((name, rc))
                    continue
                raw = ctypes.string_at(d, n.value + 1)
                L.ba_free(d)
                assert raw[-1] == 0  # NUL-terminated, not counted
                out.append((name, raw[:-1]))
    finally:
        L.ba_npz_read_close(r)
    return ("ok", out)


def same_array(a, b):
    """Equal dtype, shape and bytes (NaNs and -0.0 compared as bits)."""
    return a.dtype == b.dtype and a.shape == b.shape and \
        np.ascontiguousarray(a).tobytes() == np.ascontiguousarray(b).tobytes()


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("props_npy")


# --- arrays ------------------------------------------------------------------------

def random_array(rng, dtype, shape, fortran=False):
    """Any bit pattern (NaN, infinities, -0.0 included), booleans 0/1."""
    dt = np.dtype(dtype)
    n = int(np.prod(shape, dtype=np.int64))
    if dt.kind == "b":
        a = rng.integers(0, 2, n).astype(bool)
    else:
        a = np.frombuffer(rng.bytes(n * dt.itemsize), dt).copy()
    a = a.reshape(shape)
    return np.asfortranarray(a) if fortran else a


shapes = st.lists(st.integers(0, 5), min_size=0, max_size=4).map(tuple) | \
    st.lists(st.integers(1, 3), min_size=5, max_size=8).map(tuple) | \
    st.sampled_from([(1000,), (0,), (3, 0, 2), (1, 1, 1, 1, 1, 1, 1, 1), (2, 3, 1, 4, 1)])


# --- writers against NumPy ------------------------------------------------------------

@settings(max_examples=80, **SETTINGS)
@given(st.sampled_from(sorted(BA_DTYPES)), shapes | st.sampled_from([(0, 2 ** 40), (2 ** 33, 0)]),
       st.integers(0, 2 ** 32 - 1))
def test_save_npy_equals_numpy(workdir, dtype, shape, seed):
    """Reference: np.save (numpy.lib.format): blendarray.save_npy writes the same
    bytes for every dtype it supports and any shape (0-d, 1-d, 8-d, empty axes,
    huge axes beside an empty one), and np.load reads the same array back."""
    a = random_array(np.random.default_rng(seed), dtype, shape)
    path = workdir / "save.npy"
    ba.save_npy(path, a, overwrite=True)
    ref = io.BytesIO()
    np.save(ref, a)
    assert path.read_bytes() == ref.getvalue()
    assert same_array(np.load(path), a)


big_dims = st.sampled_from([1, 2, 2 ** 31, 2 ** 40, 2 ** 61, 2 ** 62, 2 ** 63 - 1, 2 ** 63,
                            2 ** 64 - 1]) | st.integers(0, 2 ** 63 - 1)


@settings(max_examples=120, **SETTINGS)
@given(st.sampled_from(sorted(BA_DTYPES)), st.lists(big_dims, min_size=1, max_size=8),
       st.integers(0, 7))
def test_npy_save_shapes_numpy_can_hold(workdir, dtype, dims, zero_at):
    """Reference: NumPy's own limit (np.empty(shape) is refused when a dimension
    exceeds int64 or the byte size of the non-zero dimensions does, an empty
    axis or not): ba_npy_save and ba_npz_add_array accept an empty array's shape
    exactly when NumPy can hold it (else BA_EOVERFLOW), and then np.load reads
    what np.save writes for it, byte for byte."""
    shape = list(dims)
    shape[zero_at % len(shape)] = 0  # no data: any dimension can be written
    shape = tuple(shape)
    try:
        ref_array = np.empty(shape, dtype)
    except ValueError:
        ref_array = None
    path = workdir / "shape.npy"
    if path.exists():
        path.unlink()
    rc = L.ba_npy_save(os.fsencode(path), BA_DTYPES[dtype], len(shape), shape_arg(shape), None,
                       0, 0)
    h = P()
    assert _lib.lib.ba_npz_open(ctypes.byref(h), os.fsencode(workdir / "shape.npz"), 0, 1) == 0
    rc_npz = _lib.lib.ba_npz_add_array(h, b"a", BA_DTYPES[dtype], len(shape), shape_arg(shape),
                                       None, 0)
    _lib.lib.ba_npz_abort(h)
    if ref_array is None:
        assert (rc, rc_npz) == (BA_EOVERFLOW, BA_EOVERFLOW)
        assert not path.exists()
        return
    assert (rc, rc_npz) == (BA_OK, BA_OK)
    ref = io.BytesIO()
    np.save(ref, ref_array)
    assert path.read_bytes() == ref.getvalue()
    assert np.load(path).shape == shape
    assert parse_npy(ref.getvalue())[2] == shape


@settings(max_examples=40, **SETTINGS)
@given(st.sampled_from(sorted(BA_DTYPES)), shapes.filter(lambda s: len(s) < 8),
       st.integers(0, 4), st.integers(0, 2 ** 32 - 1))
def test_npy_stack_equals_numpy(workdir, dtype, frame_shape, n, seed):
    """Reference: np.save(np.stack(frames)): frames appended one by one
    (ba_npy_stack_*) make the same bytes, zero frames included."""
    rng = np.random.default_rng(seed)
    frames = [random_array(rng, dtype, frame_shape) for _ in range(n)]
    path = workdir / "stack.npy"
    st_ = P()
    assert L.ba_npy_stack_open(ctypes.byref(st_), os.fsencode(path), BA_DTYPES[dtype],
                               len(frame_shape), shape_arg(frame_shape), 1) == 0
    for f in frames:
        assert L.ba_npy_stack_append(st_, f.ctypes.data, f.nbytes) == 0
    assert L.ba_npy_stack_finish(st_) == 0
    want = np.stack(frames) if frames else np.zeros((0,) + frame_shape, dtype)
    ref = io.BytesIO()
    np.save(ref, want)
    assert path.read_bytes() == ref.getvalue()
    assert same_array(np.load(path), want)


@st.composite
def npz_contents(draw, dtypes=tuple(sorted(BA_DTYPES)), min_size=0):
    """Up to 4 arrays under distinct names (as np.load names members)."""
    names = draw(st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
                          .filter(lambda n: n != "file"), min_size=min_size, max_size=4,
                          unique=True))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    rng = np.random.default_rng(seed)
    out = {}
    for name in names:
        dtype = draw(st.sampled_from(dtypes))
        fortran = draw(st.booleans()) if len(dtypes) > 6 else False
        out[name] = random_array(rng, dtype, draw(shapes), fortran)
    return out


@settings(max_examples=40, **SETTINGS)
@given(npz_contents(), st.booleans(), st.binary(max_size=40) | st.none())
def test_npz_written_equals_numpy(workdir, arrays, compress, meta):
    """Reference: np.load and zipfile: an .npz from _lib.NpzWriter holds the
    arrays in the order added, each what np.save writes for it (stored, or
    deflated when compress), the meta.json file's bytes as they are; and
    blendarray's own reader reads back the same."""
    path = workdir / "written.npz"
    side = workdir / "meta.json"
    with _lib.NpzWriter(path, compress=compress, overwrite=True) as w:
        for name, a in arrays.items():
            w.add_array(name, a)
        if meta is not None:
            side.write_bytes(meta)
            w.add_file("meta.json", side)
        w.finish()
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        assert [i.filename for i in infos] == [n + ".npy" for n in arrays] + \
            (["meta.json"] if meta is not None else [])
        assert {i.compress_type for i in infos} <= {zipfile.ZIP_DEFLATED if compress
                                                    else zipfile.ZIP_STORED}
        for name, a in arrays.items():
            ref = io.BytesIO()
            np.save(ref, a)
            assert z.read(name + ".npy") == ref.getvalue()
    with np.load(path) as z:
        assert list(z.files) == list(arrays) + (["meta.json"] if meta is not None else [])
        for name, a in arrays.items():
            assert same_array(z[name], a)
    got = read_npz(path)
    assert got[0] == "ok"
    want = [(n, (a.dtype.str, False, a.shape, a.tobytes())) for n, a in arrays.items()]
    assert got[1] == want + ([("meta.json", meta)] if meta is not None else [])


# --- readers against NumPy ------------------------------------------------------------

@settings(max_examples=80, **SETTINGS)
@given(st.sampled_from(READ_DTYPES), shapes, st.booleans(),
       st.sampled_from([None, (1, 0), (2, 0), (3, 0)]), st.integers(0, 2 ** 32 - 1))
def test_numpy_npy_read_by_blendarray(workdir, descr, shape, fortran, version, seed):
    """Reference: numpy.lib.format (np.save, write_array in versions 1.0, 2.0 and
    3.0, C or Fortran order, either byte order): ba_npy_parse_header says what
    NumPy's own header reader says (dtype, order, shape, where the data starts),
    the data it points to is np.load's array, and ba_npz_add_npy_file takes the
    file as a member np.load reads back."""
    a = random_array(np.random.default_rng(seed), descr, shape, fortran)
    buf = io.BytesIO()
    if version is None:
        np.save(buf, a)
    else:
        np.lib.format.write_array(buf, a, version=version)
    data = buf.getvalue()
    f = io.BytesIO(data)
    v = np.lib.format.read_magic(f)
    ref_shape, ref_fortran, ref_dtype = np.lib.format._read_array_header(f, v)
    got = parse_npy(data)
    assert got[:5] == (ref_dtype.str, ref_fortran, ref_shape, f.tell(), a.nbytes)
    assert got[5] == BA_DTYPES.get(np.dtype(descr).name if descr[0] in "<|" else "", -1)
    assert same_array(array_of(got, data), np.load(io.BytesIO(data)))
    npy = workdir / "member.npy"
    npy.write_bytes(data)
    h = P()
    path = workdir / "member.npz"
    assert _lib.lib.ba_npz_open(ctypes.byref(h), os.fsencode(path), 0, 1) == 0
    assert L.ba_npz_add_npy_file(h, b"m", os.fsencode(npy)) == 0
    assert _lib.lib.ba_npz_finish(h) == 0
    with np.load(path) as z:
        assert same_array(z["m"], a)


@settings(max_examples=60, **SETTINGS)
@given(npz_contents(dtypes=tuple(READ_DTYPES)), st.booleans(), st.binary(max_size=30) | st.none())
def test_numpy_npz_read_by_blendarray(workdir, arrays, compressed, meta):
    """Reference: np.load of what np.savez / np.savez_compressed write (and a
    file member added by zipfile): blendarray's reader lists the same members in
    the same order and reads each array (dtype, order, shape, bytes) and file as
    np.load and zipfile do."""
    path = workdir / "numpy.npz"
    (np.savez_compressed if compressed else np.savez)(path, **arrays)
    if meta is not None:
        with zipfile.ZipFile(path, "a") as z:
            z.writestr("meta.json", meta)
    got = read_npz(path)
    assert got[0] == "ok"
    with np.load(path) as z, zipfile.ZipFile(path) as zf:
        assert [n for n, _ in got[1]] == list(z.files)
        for name, value in got[1]:
            if name == "meta.json":
                assert value == meta
                continue
            member = zf.read(name + ".npy")
            f = io.BytesIO(member)
            ref_shape, ref_fortran, ref_dtype = np.lib.format._read_array_header(
                f, np.lib.format.read_magic(f))
            assert value == (ref_dtype.str, ref_fortran, ref_shape, member[f.tell():])
            assert same_array(array_of(parse_npy(member), member), z[name])


# --- single-bit corruption of an .npz -----------------------------------------------------

OPEN, SAME, MEMBER, ALL = "open", "same", "member", "all"


def zip_fields(data):
    """Every byte of a zip (no archive comment, no ZIP64 end record) as
    (start, end, field, member): parsed here from the format (PKWARE's
    APPNOTE), not by libzip."""
    e = len(data) - 22
    assert data[e:e + 4] == b"PK\x05\x06"
    n, cd_off = struct.unpack_from("<H4xI", data, e + 10)
    out = [(e, len(data), "eocd", None)]
    p = cd_off
    for i in range(n):
        meth, cs, nl, xl, cl, off = struct.unpack_from("<10xH8xI4xHHH8xI", data, p)
        for a, b, f in [(0, 4, "c.sig"), (4, 6, "c.made"), (6, 8, "c.ver"), (8, 10, "c.flags"),
                        (10, 12, "c.method"), (12, 16, "c.time"), (16, 20, "c.crc"),
                        (20, 28, "c.sizes"), (28, 34, "c.lens"), (34, 36, "c.disk"),
                        (36, 42, "c.attrs"), (42, 46, "c.offset"), (46, 46 + nl, "c.name"),
                        (46 + nl, 46 + nl + xl, "c.extra"),
                        (46 + nl + xl, 46 + nl + xl + cl, "c.comment")]:
            if b > a:
                out.append((p + a, p + b, f, i))
        lnl, lxl = struct.unpack_from("<HH", data, off + 26)
        for a, b, f in [(0, 4, "l.sig"), (4, 6, "l.ver"), (6, 8, "l.flags"),
                        (8, 14, "l.method_time"), (14, 18, "l.crc"), (18, 26, "l.sizes"),
                        (26, 30, "l.lens"), (30, 30 + lnl, "l.name"),
                        (30 + lnl, 30 + lnl + lxl, "l.extra")]:
            if b > a:
                out.append((off + a, off + b, f, i))
        ds = off + 30 + lnl + lxl
        if cs:
            out.append((ds, ds + cs, "data.deflated" if meth == 8 else "data.stored", i))
        p += 46 + nl + xl + cl
    out.sort()
    assert out[0][0] == 0 and all(a[1] == b[0] for a, b in zip(out, out[1:]))  # every byte
    return out


def expected(data, fields, bit):
    """What must become of the archive `data` with `bit` flipped:

    OPEN: ba_npz_read_open refuses it (BA_EFORMAT): the end record, a directory
      entry's signature or lengths (the directory no longer parses).
    ALL: it opens and lists its members (under the names the directory now
      says), but reading any of them is BA_EFORMAT: a local header no longer
      agrees with its directory entry (signature, name, method, time, CRC,
      sizes, lengths, ZIP64 extra field, a version needed above the
      directory's), or the directory's offset, name, method, time, CRC or
      sizes no longer agree with the local header.
    (MEMBER, i): member i's read is BA_EFORMAT, every other member reads as
      before: its stored bytes (the CRC-32 catches every single-bit error), its
      deflated bytes where zlib inflates them to anything else (or fails), the
      directory's encryption flag (bit 0).
    SAME: everything reads as before, because the bit provably does not reach
      the data: the local header's flags (every reader takes them from the
      directory, as Python's zipfile does), the directory's "version made by",
      disk number and file attributes, its other flags (compression options,
      data descriptor, UTF-8: ASCII names), a version needed lowered in the
      local header or raised in the directory, and a deflated bit that zlib
      inflates to the same bytes (padding after the final block, a block type
      bit past the data).
    """
    byte = bit // 8
    start, end, field, i = next(f for f in fields if f[0] <= byte < f[1])
    flipped = bytearray(data)
    flipped[byte] ^= 1 << (bit % 8)
    if field in ("l.flags", "c.made", "c.disk", "c.attrs"):
        return SAME
    if field == "c.flags":
        return (MEMBER, i) if byte == start and bit % 8 == 0 else SAME
    if field in ("l.ver", "c.ver"):
        c, l_ = (next(f[0] for f in fields if f[2] == k and f[3] == i) for k in ("c.ver", "l.ver"))
        local, central = (struct.unpack_from("<H", flipped, o)[0] for o in (l_, c))
        return SAME if local <= central else ALL
    if field == "data.stored":
        return (MEMBER, i)
    if field == "data.deflated":
        d = zlib.decompressobj(-15)
        try:
            got = d.decompress(bytes(flipped[start:end])) + d.flush()
        except zlib.error:
            return (MEMBER, i)
        return SAME if got == zlib.decompress(data[start:end], -15) else (MEMBER, i)
    if field in ("c.sig", "c.lens", "eocd"):
        return OPEN
    return ALL


@st.composite
def archives(draw):
    """An .npz as np.savez, np.savez_compressed or blendarray (stored, deflated,
    with a meta.json or an empty file) writes it: (writer, bytes)."""
    writer = draw(st.sampled_from(["np.savez", "np.savez_compressed", "ba stored", "ba deflated"]))
    dtypes = tuple(sorted(BA_DTYPES)) if writer.startswith("ba") else tuple(READ_DTYPES)
    arrays = draw(npz_contents(dtypes, min_size=draw(st.sampled_from([1, 1, 1, 0]))))
    extra = draw(st.sampled_from([None, b"", b'{"frame": 1}']))
    return writer, arrays, extra


def write_archive(workdir, writer, arrays, extra):
    path = workdir / "good.npz"
    if writer.startswith("np."):
        getattr(np, writer[3:])(path, **arrays)
    else:
        with _lib.NpzWriter(path, compress=writer == "ba deflated", overwrite=True) as w:
            for name, a in arrays.items():
                w.add_array(name, a)
            if extra is not None:
                (workdir / "extra").write_bytes(extra)
                w.add_file("meta.json", workdir / "extra")
            w.finish()
    return path.read_bytes()


@settings(max_examples=400, **SETTINGS)
@given(archives(), st.data())
def test_npz_single_bit_flip_exact_outcome(workdir, archive, data):
    """Reference: the zip format (APPNOTE, parsed here) for where the bit is,
    zlib for what a deflated member inflates to, np.load / zipfile for what the
    intact archive holds: one flipped bit anywhere (a local header, the data,
    a CRC-32, the central directory, the end record) has exactly the outcome
    `expected` names, never a member read back with other bytes or under
    another name."""
    writer, arrays, extra = archive
    good = write_archive(workdir, writer, arrays, extra)
    intact = read_npz(workdir / "good.npz")
    assert intact[0] == "ok" and len(intact[1]) == len(arrays) + (extra is not None and
                                                                   writer.startswith("ba"))
    fields = zip_fields(good)
    # a field kind, then one field of that kind, then a bit in it, each uniformly
    # (Hypothesis' own choices favour the first of a list)
    rng = np.random.default_rng([data.draw(st.integers(0, 2 ** 32 - 1)), zlib.crc32(good)])
    # (the data and the CRCs three times as often; the encryption flag, one
    # bit of sixteen, half the times its field is drawn)
    kinds = sorted({f[2] for f in fields})
    kinds += [k for k in kinds if k.startswith("data.") or k.endswith(".crc")] * 2
    kind = kinds[rng.integers(len(kinds))]
    of_kind = [f for f in fields if f[2] == kind]
    start, end, _, _ = of_kind[rng.integers(len(of_kind))]
    bit = start * 8 if kind == "c.flags" and rng.random() < 0.5 else \
        int(rng.integers(start * 8, end * 8))
    check_npz_flip(workdir, good, intact, fields, bit, writer)


def check_npz_flip(workdir, good, intact, fields, bit, writer):
    """The archive `good` (read as `intact`) with `bit` flipped reads exactly as
    `expected` says."""
    bad = bytearray(good)
    bad[bit // 8] ^= 1 << (bit % 8)
    path = workdir / "flipped.npz"
    path.write_bytes(bad)
    got = read_npz(path)
    want = expected(good, fields, bit)
    field = next(f for f in fields if f[0] <= bit // 8 < f[1])
    where = f"{writer}: bit {bit % 8} of byte {bit // 8} ({field[2]}): want {want}, " \
        f"got {str(got)[:200]}"
    if want == SAME:
        assert got == intact, where
    elif want == OPEN:
        assert got == ("open", BA_EFORMAT), where
    elif want == ALL:
        assert got[0] == "ok" and [v for _, v in got[1]] == [BA_EFORMAT] * len(intact[1]), where
        renamed = [k for k, ((n, _), (m, _)) in enumerate(zip(got[1], intact[1])) if n != m]
        assert renamed == ([field[3]] if field[2] == "c.name" else []), where
    else:
        assert got[0] == "ok", where
        assert got[1] == [(n, BA_EFORMAT if k == want[1] else v)
                          for k, (n, v) in enumerate(intact[1])], where


@pytest.mark.parametrize("writer", ["np.savez", "np.savez_compressed", "ba stored", "ba deflated"])
def test_npz_every_single_bit_flip(workdir, writer):
    """Reference: as above, for EVERY bit of a small archive of each writer (an
    array, and for blendarray's a meta.json): no bit is left to chance."""
    arrays = {"ids": np.array([[0, 7, 7], [300, 0, 2]], np.uint16)}
    good = write_archive(workdir, writer, arrays, b'{"a": 1}')
    intact = read_npz(workdir / "good.npz")
    assert intact[0] == "ok"
    fields = zip_fields(good)
    for bit in range(len(good) * 8):
        check_npz_flip(workdir, good, intact, fields, bit, writer)


# --- single-bit corruption of an .npy ------------------------------------------------------

def header_end(data):
    """Where the header says it ends (magic, version 1 to 3 and length read as
    numpy.lib.format documents them), None if those are not valid."""
    if data[:6] != b"\x93NUMPY" or data[6] not in (1, 2, 3) or data[7] != 0:
        return None
    return 10 + struct.unpack_from("<H", data, 8)[0] if data[6] == 1 \
        else 12 + struct.unpack_from("<I", data, 8)[0]


def numpy_reads(data):
    """NumPy's header reader on `data`: None if it refuses, else (dtype, fortran,
    shape, data offset, the raw dict text)."""
    f = io.BytesIO(data)
    try:
        v = np.lib.format.read_magic(f)
        shape, fortran, dtype = np.lib.format._read_array_header(f, v)
    except Exception:  # noqa: BLE001 - any refusal: ValueError, SyntaxError, TokenError...
        return None
    return dtype, fortran, shape, f.tell(), data[10 if v == (1, 0) else 12:f.tell()]


def outside_documented_subset(text):
    """A header NumPy reads but blendarray documents it refuses (include/
    blendarray.h): a descr other than the plain numeric ones ('|' for 1-byte
    types, '<' or '>' for wider), a number with a leading zero, anything but
    spaces between the dict and its final newline."""
    s = text.decode("latin-1")
    d = ast.literal_eval(s)
    return d["descr"] not in READ_DTYPES or re.search(r"(?<![0-9])0[0-9]", s) is not None or \
        not re.fullmatch(r"[^}]*\} *\n", s, re.S)


@settings(max_examples=250, **SETTINGS)
@given(st.sampled_from(READ_DTYPES + ["<f4", "|u1"]), shapes, st.booleans(),
       st.integers(0, 2 ** 32 - 1), st.data())
def test_npy_single_bit_flip_exact_outcome(descr, shape, fortran, seed, data):
    """Reference: NumPy's header reader (numpy.lib.format) on the flipped file.
    A bit in the header: blendarray's reader (ba_npy_parse_header, then the
    size check `blendarray inspect` and ba_npz_add_npy_file make) either reads
    exactly what NumPy reads (a header still valid: '<' -> '>', an empty axis'
    neighbour, a comma -> form feed) and the file's size agrees, or refuses it:
    BA_EBUFSIZE exactly when the stated header length runs past the file,
    BA_EFORMAT otherwise, and then NumPy refuses it too, or reads an array that
    does not fill the file, or the header is outside the subset blendarray
    documents. A bit in the data: NPY has no checksum, so no reader can tell;
    the header must still say exactly what it said."""
    a = random_array(np.random.default_rng(seed), descr, shape, fortran)
    buf = io.BytesIO()
    np.save(buf, a)
    good = buf.getvalue()
    intact = parse_npy(good)
    # where: the prefix (magic, version, length), the dict, its descr and shape
    # (where a flip can leave a valid header), the padding and '\n', the data
    text = good[:intact[3]].decode("latin-1")
    dict_end = text.index("}") + 1
    descr_at = text.index("'descr'") + 10
    shape_at = text.index("'shape'") + 9
    where = {"prefix": range(0, 10), "dict": range(10, dict_end),
             "descr": range(descr_at, descr_at + len(descr)),
             "shape": range(shape_at, text.index(")", shape_at) + 3),
             "padding": range(dict_end, intact[3]), "data": range(intact[3], len(good))}
    rng = np.random.default_rng([data.draw(st.integers(0, 2 ** 32 - 1)), zlib.crc32(good)])
    region = [k for k, r in where.items() if len(r)][rng.integers(len([r for r in where.values()
                                                                        if len(r)]))]
    in_header = region != "data"
    bit = int(where[region][rng.integers(len(where[region]))]) * 8 + int(rng.integers(8))
    check_npy_flip(good, intact, bit)


def check_npy_flip(good, intact, bit):
    """The .npy `good` (parsed as `intact`) with `bit` flipped reads as the
    property above says."""
    bad = bytearray(good)
    bad[bit // 8] ^= 1 << (bit % 8)
    bad = bytes(bad)
    got = parse_npy(bad)
    if bit // 8 >= intact[3]:  # data: the same header, both readers see the flipped bit
        assert got == intact
        assert same_array(array_of(got, bad), np.load(io.BytesIO(bad)))
        return
    ref = numpy_reads(bad)
    if isinstance(got, tuple):  # still a header: it says what NumPy reads in it
        assert ref is not None, bit
        dtype, ref_fortran, ref_shape, offset, _ = ref
        assert got[:4] == (dtype.str, ref_fortran, ref_shape, offset), bit
        if got[3] + got[4] == len(bad):  # and the file's size agrees: NumPy's array
            assert same_array(array_of(got, bad), np.load(io.BytesIO(bad))), bit
        return  # else the size check refuses it: NumPy reads a part of the file, or fails
    end = header_end(bad)
    assert got == (BA_EBUFSIZE if end is not None and end > len(bad) else BA_EFORMAT), bit
    if ref is not None:
        dtype, _, ref_shape, offset, text = ref
        fills = offset + dtype.itemsize * int(np.prod(ref_shape, dtype=np.int64)) == len(bad)
        assert not fills or outside_documented_subset(text), (bit, text)


@pytest.mark.parametrize("a", [np.zeros((0, 3), np.uint8), np.arange(6, dtype=">f4").reshape(2, 3),
                               np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4)),
                               np.array(7, np.uint32)],
                         ids=["empty", "big-endian", "fortran", "0-d"])
def test_npy_every_header_bit_flip(a):
    """Reference: as above, for EVERY bit of the header of a few files np.save
    writes (an empty array, where shape flips stay valid; big-endian; Fortran
    order; 0-d)."""
    buf = io.BytesIO()
    np.save(buf, a)
    good = buf.getvalue()
    intact = parse_npy(good)
    for bit in range(intact[3] * 8):
        check_npy_flip(good, intact, bit)


def test_directory_entries_are_not_members(workdir):
    """A folder entry that zip tools add ("d/", and one nested, "d/e/"): not a
    member. Reference: zipfile's namelist, without the names that end in '/'."""
    path = workdir / "dirs.npz"
    np.savez(path, a=np.arange(3, dtype="<i4"))
    with zipfile.ZipFile(path, "a") as z:
        z.writestr("d/", b"")
        z.writestr("d/e/", b"")
        z.writestr("d/meta.json", b"{}")
    got = read_npz(path)
    with zipfile.ZipFile(path) as z:
        want = [n[:-4] if n.endswith(".npy") else n for n in z.namelist() if not n.endswith("/")]
    assert got[0] == "ok" and [n for n, _ in got[1]] == want == ["a", "d/meta.json"]
