"""Property tests of what `blendarray render` reads before any Blender starts:
the frame list of -f (src/frames.c's ba_parse_frames) and the --params file,
against small Python models written from the documentation (the comment above
ba_parse_frames in include/blendarray.h, and `blendarray render --help`), not
from the C.

Most examples need no Blender: ba_parse_frames is called through ctypes on the
build's libblendarray.so (the very function the CLI calls), and the CLI itself
is run with an output it refuses (-o x.txt), which it checks only after the
frame list or --params file was accepted; a malformed one is refused first.
One small Workbench render checks that a frame list repeating a number
overwrites nothing in a folder output.
"""
import ctypes
import json
import math
import os
import re
import subprocess

import pytest
from hypothesis import HealthCheck, example, given, settings, strategies as st

from support import BUILD_DIR as DEV

SETTINGS = dict(derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

MAX_FRAMES = 10_000_000  # the CLI's bound (render --help: a list of more is refused)
LIMIT = 10**9            # |N|, |A|, |B| and STEP are at most this (blendarray.h)

# -- the model: the grammar as documented -------------------------------------------
#
# A list is items separated by commas; empty items are skipped; at least one item.
# An item is "N", "A-B" (A <= B, both included) or "A-B:STEP" (STEP >= 1: A,
# A + STEP, ... up to B). A number is decimal as strtoll() reads a whole string:
# leading white space (C's isspace) and a sign allowed, digits 0-9, nothing after.
# A leading '-' is A's sign. N, A, B in -1e9..1e9, STEP in 1..1e9.

WS = " \t\n\v\f\r"
NUM = f"[{re.escape(WS)}]*[+-]?[0-9]+"
ITEM = re.compile(f"({NUM})(?:-({NUM})(?::({NUM}))?)?")


def model_item(item):
    """The frames of one item, as a range, or None when the item is malformed."""
    m = ITEM.fullmatch(item)
    if m is None:
        return None
    a = int(m[1].lstrip(WS))
    b = a if m[2] is None else int(m[2].lstrip(WS))
    step = 1 if m[3] is None else int(m[3].lstrip(WS))
    if not (-LIMIT <= a <= b <= LIMIT and 1 <= step <= LIMIT):
        return None
    return range(a, b + 1, step)


def model(spec):
    """("ok", [range per item]) or ("bad", the first malformed item, or None when
    the list has no item at all)."""
    items = [t for t in spec.split(",") if t]
    if not items:
        return "bad", None
    ranges = []
    for t in items:
        r = model_item(t)
        if r is None:
            return "bad", t
        ranges.append(r)
    return "ok", ranges


# -- the strategies ------------------------------------------------------------------

def spelled(value, draw):
    """value as a person (or a script) may type it: white space before, a '+', zeros."""
    ws = draw(st.text(alphabet=WS, max_size=2))
    sign = "-" if value < 0 else draw(st.sampled_from(["", "", "+"]))
    return f"{ws}{sign}{'0' * draw(st.integers(0, 2))}{abs(value)}"


near_limits = st.sampled_from([0, 1, -1, LIMIT, -LIMIT, LIMIT - 1, -LIMIT + 1])
anywhere = st.one_of(st.integers(-30, 30), st.integers(-LIMIT, LIMIT), near_limits)


@st.composite
def valid_items(draw, huge=False):
    """A well-formed item. Spans are small unless huge (millions of frames: only
    counted, never expanded, when the bound refuses them)."""
    kind = draw(st.sampled_from(["N", "A-B", "A-B:STEP"]))
    a = draw(anywhere)
    if kind == "N":
        return spelled(a, draw)
    span = draw(st.integers(0, 2 * LIMIT) if huge else st.integers(0, 40))
    a = min(a, LIMIT - span) if a + span > LIMIT else a
    b = a + span
    text = f"{spelled(a, draw)}-{spelled(b, draw)}"
    if kind == "A-B:STEP":
        step = draw(st.one_of(st.integers(1, 12), st.integers(1, LIMIT), st.just(LIMIT)))
        text += ":" + spelled(step, draw)
    return text


# malformed items (a few may happen to be well formed: the model decides)
bad_items = st.one_of(
    st.text(alphabet="0123456789-+: \tx.e_\u0663\uff11", max_size=8),  # no ',': one item
    st.sampled_from(["1-", "-", "--5", "1--5", "a-b", "1x", "1 ", "1.5", "0x10", "1e3", "1:2",
                     "1-3:", "1-3:-1", "1-3:0", "1-3:2:2", "1:2-3", "-1-", "1-2-3", "5-1",
                     "+-5", "- 5", "1 -5", "\u0663", "1000000001", "-1000000001",
                     "1-1000000001", "1-3:1000000001", "99999999999999999999999"]),
    st.builds(lambda a, d: f"{a}-{a - d}", st.integers(-LIMIT, LIMIT), st.integers(1, 5)),
    st.builds(lambda n: str(n), st.one_of(st.integers(LIMIT + 1, 10**30),
                                          st.integers(-10**30, -LIMIT - 1))),
)


@st.composite
def lists(draw, item, repeats=True):
    """Items joined by commas, some repeated (in any order), empty items here and there."""
    items = draw(st.lists(item, min_size=1, max_size=6))
    if repeats:
        items += draw(st.lists(st.sampled_from(items), max_size=3))
        items = draw(st.permutations(items))
    out = []
    for t in items:
        out.append(t)
        out += [""] * draw(st.sampled_from([0, 0, 0, 1, 2]))
    if draw(st.booleans()):
        out.insert(0, "")
    return ",".join(out)


valid_specs = lists(valid_items())
any_specs = st.one_of(valid_specs, lists(st.one_of(valid_items(), bad_items)),
                      lists(valid_items(huge=True)), st.text(alphabet=",", max_size=3))

# -- ba_parse_frames through ctypes ---------------------------------------------------

BA_OK, BA_EINVAL, BA_EOVERFLOW = 0, 1, 3  # enum ba_errno (fixed values)


@pytest.fixture(scope="module")
def parse(cli):  # cli: the build is up to date
    lib = ctypes.CDLL(os.path.join(DEV, "libblendarray.so"))
    fn = lib.ba_parse_frames
    fn.restype = ctypes.c_int
    fn.argtypes = [ctypes.c_char_p, ctypes.POINTER(ctypes.POINTER(ctypes.c_int64)),
                   ctypes.POINTER(ctypes.c_size_t), ctypes.c_size_t]
    free = lib.ba_free  # the library's memory, freed by the library
    free.restype, free.argtypes = None, [ctypes.c_void_p]

    def call(spec, max_count):
        frames = ctypes.POINTER(ctypes.c_int64)()
        count = ctypes.c_size_t(12345)
        rc = fn(spec.encode(), ctypes.byref(frames), ctypes.byref(count), max_count)
        if not frames:
            return rc, None, count.value
        got = frames[:count.value]
        free(frames)
        return rc, got, count.value
    return call


@settings(max_examples=300, **SETTINGS)
@given(spec=valid_specs)
def test_valid_lists_give_the_models_frames_in_order(parse, spec):
    """Reference: model() -- each item's range, concatenated in the order written,
    repeats kept. ba_parse_frames gives exactly that list."""
    verdict, ranges = model(spec)
    assert verdict == "ok", (spec, ranges)  # the strategy makes well-formed lists
    want = [f for r in ranges for f in r]
    assert parse(spec, MAX_FRAMES) == (BA_OK, want, len(want)), spec


@settings(max_examples=400, **SETTINGS)
@given(spec=any_specs, max_count=st.integers(0, 300))
def test_any_list_against_the_model(parse, spec, max_count):
    """Reference: model() decides well-formed or malformed (malformed anywhere wins
    over too many frames); a well-formed list of more than max_count frames (counted
    with len(range), never expanded) is BA_EOVERFLOW, else its frames in order.
    On failure nothing is returned: NULL and a count of 0."""
    verdict, detail = model(spec)
    rc, got, count = parse(spec, max_count)
    if verdict == "bad":
        assert (rc, got, count) == (BA_EINVAL, None, 0), (spec, detail)
        return
    total = sum(len(r) for r in detail)
    if total > max_count:
        assert (rc, got, count) == (BA_EOVERFLOW, None, 0), (spec, total)
    else:
        want = [f for r in detail for f in r]
        assert (rc, got, count) == (BA_OK, want, total), spec


# -- the CLI ----------------------------------------------------------------------------

# LeakSanitizer's runtime alone, preloaded: a CLI that leaks on the way to its error
# exits 23 with the leak's stack (no Blender starts here: nothing else inherits it)
_LSAN = subprocess.run(["cc", "-print-file-name=liblsan.so.0"], capture_output=True,
                       text=True).stdout.strip()
LSAN_ENV = (dict(os.environ, LD_PRELOAD=_LSAN, LSAN_OPTIONS="exitcode=23")
            if os.path.isabs(_LSAN) and os.path.exists(_LSAN) else dict(os.environ))


def render_stops_before_blender(cli, tmp_path, *args):
    """`blendarray render ARGS -o x.txt`: every check of ARGS comes first, then the
    output, which is refused; no Blender starts either way. Under LeakSanitizer."""
    p = subprocess.run([cli, "render", *args, "-o", str(tmp_path / "x.txt")],
                       capture_output=True, timeout=60, env=LSAN_ENV)
    return p.returncode, p.stderr.decode("utf-8", "replace")


OUTPUT_REFUSED = "is not a .npz file, a folder or -"


@settings(max_examples=120, **SETTINGS)
@given(spec=any_specs)
def test_cli_accepts_or_names_the_bad_item(cli, tmp_path, spec):
    """Reference: model(). A well-formed list of at most 10,000,000 frames passes
    (the CLI goes on to refuse the output); more frames: exit 2 saying so; a
    malformed list: exit 2, "malformed frame list", and the first malformed item
    quoted (or that the list has no frame at all)."""
    verdict, detail = model(spec)
    rc, err = render_stops_before_blender(cli, tmp_path, "-f", spec)
    assert rc == 2, err
    if verdict == "ok":
        if sum(len(r) for r in detail) > MAX_FRAMES:
            assert f"has more than {MAX_FRAMES} frames" in err, (spec, err)
        else:
            assert OUTPUT_REFUSED in err, (spec, err)
    else:
        assert f"malformed frame list '{spec}'" in err, (spec, err)
        assert (f"'{detail}' is not" if detail is not None else "no frame in it") in err, \
            (spec, detail, err)
    assert os.listdir(tmp_path) == []


# -- --params FILE ------------------------------------------------------------------------
#
# Model (render --help): one JSON object per line, one frame each; lines of white
# space only (" \t\r") are skipped; at least one object. A line is an object if it
# is JSON text (RFC 8259) whose value is an object within what the C side keeps:
# integers within int64, finite numbers, no NUL character in a string (the
# library's JSON reader, jansson, refuses the others; so does this model).
# Lines are split at "\n" only.

INT64 = range(-2**63, 2**63)


def _within_limits(v):
    if isinstance(v, bool) or v is None:
        return True
    if isinstance(v, int):
        return v in INT64
    if isinstance(v, float):
        return math.isfinite(v)
    if isinstance(v, str):
        return "\0" not in v and not any(0xD800 <= ord(c) <= 0xDFFF for c in v)
    if isinstance(v, list):
        return all(map(_within_limits, v))
    return all(_within_limits(k) and _within_limits(x) for k, x in v.items())


def _no_constants(name):
    raise ValueError(name)  # NaN, Infinity: not JSON


def object_line(line):
    """Is this line (bytes, without its "\\n") one JSON object?"""
    try:
        v = json.loads(line.decode("utf-8"), parse_constant=_no_constants)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError too
        return False
    return isinstance(v, dict) and _within_limits(v)


def model_params(data):
    """("ok", number of frames) or ("bad line", its number, from 1) or ("empty", None)."""
    n = 0
    for number, line in enumerate(data.split(b"\n"), 1):
        if not line.strip(b" \t\r"):
            continue
        if not object_line(line):
            return "bad line", number
        n += 1
    return ("ok", n) if n else ("empty", None)


json_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=6),
                         st.floats(allow_nan=False, allow_infinity=False))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=6)


@st.composite
def object_texts(draw):
    d = draw(st.dictionaries(st.one_of(st.sampled_from(["frame", "samples", "seed", "tag"]),
                                       st.text(max_size=5)), json_values, max_size=4))
    text = json.dumps(d, ensure_ascii=draw(st.booleans()))
    pad = st.text(alphabet=" \t", max_size=2)
    return (draw(pad) + text + draw(pad) + draw(st.sampled_from(["", "\r"]))).encode()


@st.composite
def broken_texts(draw):
    whole = draw(object_texts())
    return whole[:draw(st.integers(0, max(0, len(whole) - 1)))]


param_lines = st.one_of(
    object_texts(), object_texts(), object_texts(),
    st.builds(lambda v: json.dumps(v).encode(), json_values),  # any JSON value
    st.text(alphabet=" \t\r", max_size=3).map(str.encode),     # blank
    broken_texts(),
    st.sampled_from([b'{"a": NaN}', b'{"a": Infinity}', b'{"a": 1e400}', b'{"a": 9223372036854775808}',
                     b'{"a": -9223372036854775808}', b'{"a": "\\u0000"}', b'{"a": "\\ud800"}',
                     b'{} {}', b'{"a": 1,}', b"{'a': 1}", b'\xef\xbb\xbf{}', b'{"\xff": 1}',
                     b'{"a": 1}\0x', b'\0{"a": 1}', b'\0', b'\f', b'{"a": 1} \v', b'{}']),
)


@settings(max_examples=100, **SETTINGS)
@given(lines=st.lists(param_lines, max_size=6), end=st.sampled_from([b"", b"\n"]))
@example(lines=[b'{"frame": 1}', b'{"a": 1}\0x'], end=b"\n").via("a NUL byte ends no line early")
@example(lines=[b'{"frame": 1}', b'\0{"a": 1}'], end=b"").via("a line after a NUL byte is not blank")
def test_params_file_against_the_model(cli, tmp_path, lines, end):
    """Reference: model_params(). A file of objects passes (the CLI goes on to refuse
    the output); the first line that is not blank and not one object is named by its
    number; a file without an object says it holds no frame. Exit 2 for both."""
    data = b"\n".join(lines) + end
    (tmp_path / "p.jsonl").write_bytes(data)
    verdict, detail = model_params(data)
    rc, err = render_stops_before_blender(cli, tmp_path, "--params", str(tmp_path / "p.jsonl"))
    assert rc == 2, err
    if verdict == "ok":
        assert OUTPUT_REFUSED in err, (data, err)
    elif verdict == "bad line":
        assert f"p.jsonl, line {detail}: not a JSON object" in err, (data, detail, err)
        assert 'give one object per line, e.g. {"frame": 12, "samples": 64, "seed_offset": 3}' \
            in err, err  # what to do
        assert OUTPUT_REFUSED not in err, (data, err)  # it stopped there
        assert err.count("blendarray: ") == 1, (data, err)  # and read no further line
    else:
        assert "holds no frame" in err, (data, err)
        assert OUTPUT_REFUSED not in err, (data, err)
        assert err.count("blendarray: ") == 1, (data, err)
    assert os.listdir(tmp_path) == ["p.jsonl"]


# -- a frame list that repeats a number, rendered -------------------------------------------
#
# What each output does with a repeated frame (cli/render_outputs.c): .npz, --stack and
# -o - hold frames by position (a leading frame axis, a list of metadata, a stream),
# --coco names its images by index; a folder names its files by frame number unless
# the list repeats one (or --count, --params): then by index. So a folder is the one
# place a repeat could overwrite an earlier frame, silently with --force.

@pytest.mark.blender
def test_repeated_frames_in_a_folder_overwrite_nothing(cli, tmp_path):
    """Reference: the list's model, [5, 7, 5]: one file per frame and pass, numbered by
    index, their metadata in that order -- even with --force, where a file named by
    frame number would silently replace the first 5."""
    d = tmp_path / "f"
    p = subprocess.run([cli, "render", "-f", "5,7,5", "-p", "rgba", "-e", "workbench",
                        "--size", "8x8", "-q", "--force", "-o", f"{d}/"],
                       capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    want = [f for r in model("5,7,5")[1] for f in r]
    assert sorted(os.listdir(d)) == sorted(f"{k}_{i:04d}.{e}" for i in range(len(want))
                                           for k, e in (("meta", "json"), ("rgba", "npy")))
    metas = [json.loads((d / f"meta_{i:04d}.json").read_text()) for i in range(len(want))]
    assert [(m["index"], m["frame"]) for m in metas] == list(enumerate(want))


@pytest.mark.blender
def test_distinct_frames_in_a_folder_are_named_by_frame(cli, tmp_path):
    """The other side: a list without repeats, out of order (7, 5): files named by
    frame number, each holding its frame."""
    d = tmp_path / "f"
    p = subprocess.run([cli, "render", "-f", "7,5", "-p", "rgba", "-e", "workbench",
                        "--size", "8x8", "-q", "-o", f"{d}/"], capture_output=True, timeout=300)
    assert p.returncode == 0, p.stderr.decode()
    assert sorted(os.listdir(d)) == ["meta_0005.json", "meta_0007.json", "rgba_0005.npy",
                                     "rgba_0007.npy"]
    for i, frame in enumerate([7, 5]):
        m = json.loads((d / f"meta_{frame:04d}.json").read_text())
        assert (m["index"], m["frame"]) == (i, frame)


@pytest.mark.parametrize("n", [64, 65, 130])
def test_params_files_around_the_first_growth(cli, tmp_path, n):
    """Both sides of the line list's first growth (64 lines): every line is taken,
    the CLI goes on to the output (refused), under LeakSanitizer."""
    (tmp_path / "p.jsonl").write_text("".join(f'{{"frame": {i}}}\n' for i in range(n)))
    rc, err = render_stops_before_blender(cli, tmp_path, "--params", str(tmp_path / "p.jsonl"))
    assert rc == 2 and OUTPUT_REFUSED in err and err.count("blendarray: ") == 1, err
