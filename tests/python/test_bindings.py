"""The ctypes binding Blender loads (blendarray._lib: every prototype, struct and
constant it declares) against libblendarray's header, include/blendarray.h. A
binding that drifts from the header reads garbage or crashes; this fails first.
(The consumer's CPython extension is compiled against the header itself.)"""
import ctypes
import os
import re

import pytest

from blendarray import _lib
from support import ROOT

HEADER = open(os.path.join(ROOT, "include", "blendarray.h")).read()


def _prototypes():
    """{name: (return type, [parameter types])} for every BA_API function."""
    text = re.sub(r"/\*.*?\*/", " ", HEADER, flags=re.S)
    out = {}
    for ret, name, params in re.findall(r"BA_API\s+([^;()]*?)\b(ba_\w+)\s*\(([^)]*)\)\s*;", text):
        params = [p.strip() for p in params.split(",") if p.strip() and p.strip() != "void"]
        params = [re.sub(r"\s*\b\w+\s*\[\w*\]$", " *", p) for p in params]  # T a[4] is T *
        types = [re.sub(r"\s*\b\w+$", "", p) if not p.endswith("*") else p for p in params]
        out[name] = (ret.strip(), [" ".join(t.split()) for t in types])
    return out


def _expected(c_type):
    """The ctypes types that pass or return a C type faithfully."""
    t = " ".join(c_type.replace("const", " ").split())
    stars = t.count("*")
    base = t.replace("*", "").strip()
    scalar = {"int": ctypes.c_int, "unsigned": ctypes.c_uint, "uint32_t": ctypes.c_uint32, "int32_t": ctypes.c_int32,
              "size_t": ctypes.c_size_t, "uint64_t": ctypes.c_uint64,
              "uint8_t": ctypes.c_uint8, "float": ctypes.c_float}
    if stars == 0:
        return {None} if base == "void" else {scalar[base]}
    if stars == 1 and base == "char":
        return {ctypes.c_char_p}
    if stars == 1 and base in scalar:  # an out-parameter, or an array passed as memory
        return {ctypes.POINTER(scalar[base]), ctypes.c_void_p}
    if stars == 1 and base == "ba_exr_target":
        return {ctypes.POINTER(_lib.ExrTarget)}
    if stars == 1:  # void *, float *, uint8_t *, an opaque handle
        return {ctypes.c_void_p, ctypes.c_char_p}
    if stars == 2 and base.startswith("ba_"):  # out-parameter of a handle
        return {ctypes.POINTER(ctypes.c_void_p)}
    raise AssertionError(f"no ctypes rule for C type {c_type!r}")


def test_every_ctypes_signature_matches_the_header():
    protos = _prototypes()
    assert len(protos) > 40  # the parser found the header's functions
    for name, (res, args) in _lib.SIGNATURES.items():
        assert name in protos, f"{name} is not in the header"
        c_ret, c_args = protos[name]
        assert len(args) == len(c_args), f"{name}: {len(args)} arguments, the header has {c_args}"
        assert res in _expected(c_ret), f"{name}: returns {res}, the header says {c_ret!r}"
        for i, (a, c) in enumerate(zip(args, c_args)):
            assert a in _expected(c), f"{name} argument {i}: {a}, the header says {c!r}"


def test_exr_target_struct_matches_the_header():
    body = re.search(r"typedef struct ba_exr_target \{(.*?)\} ba_exr_target;", HEADER, re.S).group(1)
    body = re.sub(r"/\*.*?\*/", " ", body, flags=re.S)
    fields = [f.strip() for f in body.split(";") if f.strip()]
    names = [re.search(r"(\w+)$", f).group(1) for f in fields]
    assert [n for n, _ in _lib.ExrTarget._fields_] == names
    c_types = [f[: -len(n)].strip() for f, n in zip(fields, names)]
    for (n, t), c in zip(_lib.ExrTarget._fields_, c_types):
        if c.replace(" ", "") == "constchar*const*":
            assert t == ctypes.POINTER(ctypes.c_char_p), n
        else:
            assert t in _expected(c), f"ExrTarget.{n}: {t}, the header says {c!r}"


def _define(name):
    m = re.search(rf"#define {name} \(?([^/\n]*?)\)?\s*(/\*|\n)", HEADER)
    return eval(m.group(1).replace("u <<", " <<").replace("u)", ")"))  # noqa: S307 (our header)


def _enum(name):
    return int(re.search(rf"\b{name} = (\d+)", HEADER).group(1))


def test_constants_match_the_header():
    # the extension is compiled against the header: only ctypes can drift
    assert _lib.MSG_MAX == _define("BA_MSG_MAX")
    assert _lib.MSG_MAX_FDS == _define("BA_MSG_MAX_FDS")


def test_ctypes_error_codes_match_the_header():
    for name in ("BA_ETIMEDOUT", "BA_ECLOSED", "BA_EPERM"):
        assert getattr(_lib, name) == _enum(name), name
