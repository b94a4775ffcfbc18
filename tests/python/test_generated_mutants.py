"""tests/mutation/generated.py, the sampler of universalmutator's mutants: what it
mutates is what the build compiles, its verdicts before a run (stillborn, equivalent
by Trivial Compiler Equivalence) are the compiler's, its keys survive edits
elsewhere, its sample is the seed's."""
import os
import sys

import pytest

from support import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "mutation"))
import generated  # noqa: E402

C_FILES = sorted({p for a in generated.AREAS.values() for p in a["files"] if p.endswith(".c")})


@pytest.mark.parametrize("path", C_FILES)
def test_blanked_comments_compile_to_the_same_object(path):
    """Blanking the comments (so that universalmutator mutates lines that end in
    one) changes nothing the compiler sees, and keeps every line where it was.
    Reference: the build's own compiler command on the original file."""
    with open(os.path.join(ROOT, path)) as f:
        original = f.read()
    blanked = generated.source_of(path)
    assert blanked.count("\n") == original.count("\n")
    assert "/*" not in blanked.replace("/* fall through */", "")
    obj = generated._object(path, original)
    assert obj is not None and generated._object(path, blanked) == obj


def test_strings_keep_their_comment_markers():
    text = 'a = "/* not */"; /* yes */ b = \'/\'; // c "x"\nc = 1; /* two\nlines */ d;\n'
    out = generated._blank_c_comments(text)
    assert out == 'a = "/* not */";           b = \'/\';         \nc = 1;       \n         d;\n'
    kept = "case 1: x++; /* fall through */\ncase 2: // FALLTHRU\n"
    assert generated._blank_c_comments(kept) == kept  # gcc's -Wimplicit-fallthrough reads them


def _variants(path, line_start, same, other, broken):
    """Three mutants of the first line of `path` that starts with line_start: the
    line with each of the replacements (old, new) applied."""
    src = generated.source_of(path).split("\n")
    i = next(k for k, line in enumerate(src) if line.strip().startswith(line_start))
    return [dict(path=path, line=i + 1, old=src[i].strip(), new="", repl=src[i].replace(*r))
            for r in (same, other, broken)]


def test_c_mutants_by_the_compiler():
    """A C mutant that compiles to the original's bytes is equivalent (TCE), one
    that does not compile is stillborn, one that changes the code is to be run;
    universalmutator's own mutants of a file include the last two kinds."""
    same, other, broken = _variants("src/frames.c", "return 0;", ("return 0;", "return (0);"),
                                    ("return 0;", "return 1;"), ("return 0;", "return 0"))
    assert generated.classify(same) == "equivalent (TCE)"
    assert generated.classify(other) is None
    assert generated.classify(broken) == "stillborn"
    verdicts = {generated.classify(m) for m in generated.mutants_of("src/frames.c", None)[:60]}
    assert {None, "stillborn"} <= verdicts


def test_python_mutants_compare_code_objects():
    """Python: the code objects, positions left out (parentheses move columns only)."""
    line = "return len(range(rank, n, world))"
    same, other, broken = _variants("python/blendarray/torch.py", line, ("world))", "(world)))"),
                                    ("world))", "world + 1))"), ("return", "retrun"))
    assert generated.classify(same) == "equivalent (TCE)"
    assert generated.classify(other) is None
    assert generated.classify(broken) == "stillborn"


def test_keys_survive_edits_elsewhere():
    """A mutant's key (what equivalent.txt lists) is the same after lines are added
    above it, and unique in its file."""
    path = "src/frames.c"
    with open(os.path.join(ROOT, path)) as f:
        text = f.read()
    a = generated.mutants_of(path, None)
    b = generated.mutants_of(path, None, "/* a new\n comment */\n\n" + text)
    assert len({m["key"] for m in a}) == len(a)
    assert [m["key"] for m in a] == [m["key"] for m in b]
    assert [m["line"] + 3 for m in a] == [m["line"] for m in b]


def test_function_ranges():
    """cli/render_args.c's mutants are those of the frame-handling functions only."""
    ms = generated.mutants_of("cli/render_args.c", ["has_repeats"])
    with open(os.path.join(ROOT, "cli/render_args.c")) as f:
        lines = f.read().split("\n")
    first = next(i for i, line in enumerate(lines) if line.startswith("static int has_repeats("))
    last = next(i for i in range(first, len(lines)) if lines[i] == "}")
    assert ms and all(first + 1 <= m["line"] <= last + 1 for m in ms)
    with pytest.raises(SystemExit, match="nope"):
        generated.mutants_of("cli/render_args.c", ["nope"])


def test_sample_is_the_seeds_and_deals_every_area():
    by_area = {"a": [{"key": f"a{i}"} for i in range(5)], "b": [{"key": f"b{i}"} for i in range(2)]}
    one = [m["key"] for m in generated.sample_order(by_area, 1)]
    assert one == [m["key"] for m in generated.sample_order(by_area, 1)]
    assert one != [m["key"] for m in generated.sample_order(by_area, 2)]
    assert [k[0] for k in one] == ["a", "b", "a", "b", "a", "a", "a"]
    assert sorted(one) == sorted(m["key"] for ms in by_area.values() for m in ms)


def test_equivalent_list_is_read(tmp_path, monkeypatch):
    f = tmp_path / "eq.txt"
    f.write_text("# comment\n\nabc123def456  src/x.c:3  both branches return 0\n")
    monkeypatch.setattr(generated, "EQUIVALENT", str(f))
    assert generated.read_equivalent() == {"abc123def456": "src/x.c:3  both branches return 0"}
