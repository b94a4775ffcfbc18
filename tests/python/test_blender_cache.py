"""The test cache (blender_cache.py) never hands out a stale entry: a change of the
script, of its arguments or input files, of a file of the checkout it used, or of
the Blender makes the entry anew; nothing else does."""
import os

import pytest

import blender_cache
from blender_cache import In, Out
from support import blender_cmd, blender_identity, expected_version

SCRIPT = '''
import os, sys
import bpy
argv = sys.argv[sys.argv.index("--") + 1:]
sys.path.insert(0, argv[0])
import helper_dep
with open(argv[2], "w") as f:
    f.write(f"{bpy.app.version_string} {helper_dep.VALUE} {open(argv[1]).read()}")
'''


@pytest.fixture
def setup(tmp_path, monkeypatch):
    monkeypatch.setenv("BLENDARRAY_TEST_CACHE", str(tmp_path / "cache"))
    src = tmp_path / "src"
    src.mkdir()
    (src / "script.py").write_text(SCRIPT)
    (src / "helper_dep.py").write_text("VALUE = 1\n")
    (src / "input.txt").write_text("first")
    return src


def run(flavour, src, identity=None):
    made = blender_cache.blender_output(
        lambda *a: blender_cmd(flavour, *a), identity or blender_identity(flavour),
        str(src / "script.py"), [str(src), In(str(src / "input.txt")), Out("out.txt")],
        roots=[str(src)], env=dict(os.environ))
    with open(made / "out.txt") as f:
        return made.made, f.read()


def test_a_change_of_what_made_an_entry_makes_it_anew(setup, flavour):
    src = setup
    made, out = run(flavour, src)
    assert made and out.endswith(" 1 first")
    assert run(flavour, src) == (False, out)  # kept

    (src / "helper_dep.py").write_text("VALUE = 2\n")  # a module the script imported
    made, out = run(flavour, src)
    assert made and out.endswith(" 2 first")
    (src / "helper_dep.py").write_text("VALUE = 1\n")  # back: the first entry is still good
    assert run(flavour, src) == (False, out.replace(" 2 ", " 1 "))

    (src / "input.txt").write_text("second")  # an input file
    assert run(flavour, src) == (True, out.replace(" 2 first", " 1 second"))
    assert run(flavour, src)[0] is False

    (src / "script.py").write_text(SCRIPT + "\n# edited\n")  # the script
    assert run(flavour, src)[0] is True
    assert run(flavour, src)[0] is False

    # another Blender (or the same version's binary replaced): another entry
    other = blender_identity(flavour) + " upgraded"
    assert run(flavour, src, identity=other)[0] is True
    assert run(flavour, src, identity=other)[0] is False
    assert run(flavour, src)[0] is False


def test_the_identity_names_the_blender_and_its_binary(flavour, tmp_path):
    ident = blender_identity(flavour)
    assert ident.split()[:2] == [flavour, expected_version(flavour)]
    binary = tmp_path / "blender"
    binary.write_bytes(b"x" * 10)
    a = blender_cache.file_identity(str(binary))
    binary.write_bytes(b"y" * 11)  # upgraded in place: another size and time
    assert blender_cache.file_identity(str(binary)) != a
    os.utime(binary, ns=(1, 1))
    b = blender_cache.file_identity(str(binary))
    os.utime(binary, ns=(2, 2))  # same size, another time
    assert blender_cache.file_identity(str(binary)) != b


def test_cache_off_keeps_nothing(setup, flavour, monkeypatch):
    monkeypatch.setenv("BLENDARRAY_TEST_CACHE", "off")
    assert blender_cache.cache_dir() is None
    assert run(flavour, setup)[0] is True
    assert run(flavour, setup)[0] is True
