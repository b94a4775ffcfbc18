"""The full tier's own caches: the mutation check's results (tests/mutation/run.py)
and the .venv template of a new clone (scripts/venv_cache.py). What each key holds
is checked by changing one file at a time of a small checkout; what a template
holds, by the venv Python itself and os.stat (the same file, or a new one)."""
import json
import os
import subprocess
import sys
import time

import pytest

from support import ROOT

sys.path.insert(0, os.path.join(ROOT, "tests", "mutation"))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
import run as runner  # noqa: E402
import venv_cache  # noqa: E402

FILES = {
    "pyproject.toml": "[project]\n", "meson.build": "project('x')\n", "Makefile": "all:\n",
    "src/a.c": "int a(void) { return 1; }\n", "src/b.c": "int b(void) { return 2; }\n",
    "include/x.h": "int a(void);\n", "cli/main.c": "int main(void) { return 0; }\n",
    "python/pkg/__init__.py": "X = 1\n", "python/pkg/other.py": "Y = 2\n",
    "tests/conftest.py": "", "tests/python/support.py": "ROOT = '.'\n",
    "tests/python/test_t.py": "def test_t(): pass\n", "tests/python/test_u.py": "def test_u(): pass\n",
    "tests/cli/test_c.py": "def test_c(): pass\n", "tests/c/test_a.c": "int main(void) { return 0; }\n",
    "fuzz/a_fuzzer.c": "\n", "docs/x.md": "# x\n", "build/dev/junk.o": "obj",
}


@pytest.fixture
def tree(tmp_path):
    for rel, text in FILES.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def _mutant(path="src/a.c", tests=(("pytest", "tests/python/test_t.py", "-k", "t"),)):
    return {"id": "m", "promise": "p", "edits": [(path, "return 1", "return 0")],
            "tests": [list(t) for t in tests]}


def _changes_key(tree, m, rel):
    """Whether appending to rel (made if absent) changes m's key."""
    before = runner.Keys(str(tree)).key(m)
    p = tree / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "a") as f:
        f.write("\n/* changed */\n")
    return runner.Keys(str(tree)).key(m) != before


@pytest.mark.parametrize("rel", ["src/a.c", "src/b.c", "include/x.h", "python/pkg/other.py",
                                 "tests/python/test_t.py", "tests/python/support.py",
                                 "tests/python/new_helper.py", "tests/conftest.py", "pyproject.toml",
                                 "meson.build"])
def test_a_c_mutants_key_sees_its_layer_package_and_tests(tree, rel):
    assert _changes_key(tree, _mutant(), rel), rel


@pytest.mark.parametrize("rel", ["tests/python/test_u.py", "cli/main.c", "docs/x.md",
                                 "build/dev/junk.o", "tests/c/test_a.c"])
def test_a_c_mutants_key_does_not_see_the_rest(tree, rel):
    assert not _changes_key(tree, _mutant(), rel), rel


def test_a_python_mutants_key_sees_its_package_not_the_library(tree):
    m = _mutant("python/pkg/__init__.py")
    assert _changes_key(tree, m, "python/pkg/other.py")
    assert not _changes_key(tree, m, "src/b.c")  # the rotation's job (documented)


def test_the_tests_commands_decide_what_else_is_in_the_key(tree):
    c = _mutant(tests=[["sh", "-c", "ninja -C build/dev tests/c/test_a && build/dev/tests/c/test_a"]])
    assert _changes_key(tree, c, "tests/c/test_a.c") and _changes_key(tree, c, "fuzz/a_fuzzer.c")
    assert _changes_key(tree, c, "Makefile")
    assert not _changes_key(tree, c, "python/pkg/other.py")  # no pytest: not the package
    cli = _mutant("cli/main.c", tests=[["pytest", "tests/cli/test_c.py"]])
    for rel in ("cli/main.c", "src/b.c", "tests/cli/test_c.py"):
        assert _changes_key(tree, cli, rel), rel


def test_a_mutant_outside_the_layers_sees_the_whole_checkout(tree):
    m = _mutant("meson.build")
    assert _changes_key(tree, m, "docs/x.md")
    assert not _changes_key(tree, m, "build/dev/junk.o")  # build output is not the checkout


def test_the_mutants_own_definition_is_in_its_key(tree):
    keys = runner.Keys(str(tree))
    m = _mutant()
    assert keys.key(m) == keys.key(dict(m))
    assert keys.key(m) != keys.key(dict(m, edits=[("src/a.c", "return 1", "return 2")]))
    assert keys.key(m) != keys.key(dict(m, tests=[["pytest", "tests/python/test_t.py"]]))


def _entry(folder, key, verified, seconds=10.0, verdict="caught"):
    runner.cache_write(str(folder), key, dict(id=key, verdict=verdict, verified=verified,
                                             seconds=seconds))


class FixedKeys:
    def key(self, m):
        return m["id"]


def test_cached_caught_mutants_are_not_run_but_the_oldest_are(tmp_path):
    ms = [{"id": f"m{i}"} for i in range(6)]
    now = time.time()
    for i in range(5):  # m5: never run
        _entry(tmp_path, f"m{i}", verified=now - 1000 * (i + 1))  # m4 verified longest ago
    _entry(tmp_path, "m0", verified=now, verdict="MISSED")  # a miss is no cache entry
    run, cached = runner.plan(ms, FixedKeys(), str(tmp_path), full=False, rotate=15, jobs=1,
                              named=False)
    # run: m0 (missed), m5 (new), then the oldest verified until 15 s: m4, m3
    assert sorted(m["id"] for m, _, _ in run) == ["m0", "m3", "m4", "m5"]
    assert sorted(m["id"] for m, _, _ in cached) == ["m1", "m2"]
    run, cached = runner.plan(ms, FixedKeys(), str(tmp_path), full=False, rotate=0, jobs=2,
                              named=False)
    assert sorted(m["id"] for m, _, _ in run) == ["m0", "m5"]
    for full, named in ((True, False), (False, True)):
        run, cached = runner.plan(ms, FixedKeys(), str(tmp_path), full=full, rotate=0, jobs=1,
                                  named=named)
        assert len(run) == 6 and cached == []
    run, cached = runner.plan(ms, FixedKeys(), None, full=False, rotate=60, jobs=1, named=False)
    assert len(run) == 6 and cached == []  # BLENDARRAY_MUTATION_CACHE=off


def test_cache_entries_are_whole_files(tmp_path):
    _entry(tmp_path, "k", verified=1.0)
    assert runner.cache_read(str(tmp_path), "k")["verdict"] == "caught"
    assert os.listdir(tmp_path) == ["k.json"]  # no temporary file left
    (tmp_path / "bad.json").write_text('{"verdict": "cau')  # cut short: not an entry
    assert runner.cache_read(str(tmp_path), "bad") is None
    assert runner.cache_read(str(tmp_path), "absent") is None


def test_sync_copies_only_what_differs(tree, tmp_path_factory):
    dst = tmp_path_factory.mktemp("dst")
    runner._sync(str(tree), str(dst), root=str(tree))
    assert not (dst / "build").exists()  # the checkout's build folder is not copied
    for rel in FILES:
        if not rel.startswith("build/"):
            assert (dst / rel).read_text() == FILES[rel], rel
    (dst / "build").mkdir()  # the tree's own build folder: kept
    (dst / "build" / "keep").write_text("")
    (dst / "stray.txt").write_text("")
    past = time.time() - 1000
    for rel in ("src/a.c", "src/b.c"):
        os.utime(dst / rel, (past, past))
    (tree / "src" / "b.c").write_text(FILES["src/b.c"].replace("2", "3"))  # same size
    os.chmod(tree / "include" / "x.h", 0o755)
    (tree / "docs" / "x.md").unlink()
    runner._sync(str(tree), str(dst), root=str(tree))
    assert os.stat(dst / "src" / "a.c").st_mtime == pytest.approx(past)  # untouched: ninja builds nothing
    assert (dst / "src" / "b.c").read_text() == (tree / "src" / "b.c").read_text()
    assert os.stat(dst / "src" / "b.c").st_mtime > past + 500  # new: ninja rebuilds it
    assert os.stat(dst / "include" / "x.h").st_mode & 0o777 == 0o755
    assert not (dst / "docs" / "x.md").exists() and not (dst / "stray.txt").exists()
    assert (dst / "build" / "keep").exists()


# -- scripts/venv_cache.py ----------------------------------------------------------------------

@pytest.fixture
def venv_home(tmp_path, monkeypatch):
    """A small venv (no pip) with a console script, and the template folder."""
    monkeypatch.setenv("BLENDARRAY_VENV_CACHE", str(tmp_path / "cache"))
    first = tmp_path / "first" / ".venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(first)], check=True)
    script = first / "bin" / "tool"
    script.write_text(f"#!{first}/bin/python\nimport sys\nprint(sys.prefix)\n")
    script.chmod(0o755)
    (site,) = (first / "lib").glob("python3*/site-packages")
    (site / "dep.py").write_text("VALUE = 42\n")
    return tmp_path, first


def test_a_venv_made_from_the_template_is_complete_and_its_own(venv_home):
    tmp_path, first = venv_home
    assert venv_cache.save("k1", str(first)) == 0
    second = tmp_path / "second" / ".venv"
    assert venv_cache.restore("k1", str(second)) == 0
    out = subprocess.run([str(second / "bin" / "tool")], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == str(second)  # its own Python, by the rewritten first line
    out = subprocess.run([str(second / "bin" / "python"), "-c",
                          "import dep, sys; print(dep.VALUE, sys.prefix)"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["42", str(second)]
    assert f"{first}" not in (second / "pyvenv.cfg").read_text()
    (site,) = (second / "lib").glob("python3*/site-packages")
    tpl = tmp_path / "cache" / "k1"
    (tsite,) = (tpl / "lib").glob("python3*/site-packages")
    assert os.stat(site / "dep.py").st_ino == os.stat(tsite / "dep.py").st_ino  # a hard link
    assert os.stat(second / "bin" / "tool").st_ino != os.stat(tpl / "bin" / "tool").st_ino
    assert (tpl / "bin" / "tool").read_text().startswith(f"#!{first}/")  # the template's as it was
    assert venv_cache.restore("k1", str(second)) == 1  # never over an existing one
    assert venv_cache.restore("other", str(tmp_path / "third")) == 1
    assert not (tmp_path / "third").exists()


def test_a_template_changed_in_place_is_dropped(venv_home):
    tmp_path, first = venv_home
    venv_cache.save("k1", str(first))
    (site,) = (first / "lib").glob("python3*/site-packages")
    with open(site / "dep.py", "a") as f:  # written in place: the template's file too
        f.write("VALUE = 0\n")
    assert venv_cache.restore("k1", str(tmp_path / "second")) == 1
    assert not (tmp_path / "cache" / "k1").exists() and not (tmp_path / "second").exists()


def test_a_template_is_used_for_a_week_at_most(venv_home):
    """Then pip installs everything again: the unpinned dependencies' new releases."""
    tmp_path, first = venv_home
    venv_cache.save("k1", str(first))
    man = tmp_path / "cache" / "k1" / venv_cache.MANIFEST
    m = json.loads(man.read_text())
    m["saved"] = time.time() - 6 * 86400
    man.write_text(json.dumps(m))
    assert venv_cache.restore("k1", str(tmp_path / "second")) == 0
    m["saved"] = time.time() - 8 * 86400
    man.write_text(json.dumps(m))
    assert venv_cache.restore("k1", str(tmp_path / "third")) == 1
    assert not (tmp_path / "cache" / "k1").exists() and not (tmp_path / "third").exists()


def test_the_venv_key_follows_pythons_pip_arguments_and_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[project]\ndependencies = ['numpy']\n")
    k = venv_cache.key(["-e", ".[test]"], root=str(tmp_path))
    assert k == venv_cache.key(["-e", ".[test]"], root=str(tmp_path))
    assert k != venv_cache.key(["-e", ".[test]", "torch==2"], root=str(tmp_path))
    (tmp_path / "pyproject.toml").write_text("[project]\ndependencies = ['numpy<2']\n")
    assert k != venv_cache.key(["-e", ".[test]"], root=str(tmp_path))


def test_only_the_templates_used_last_are_kept(venv_home):
    tmp_path, first = venv_home
    for i, k in enumerate(["a", "b", "c"]):
        venv_cache.save(k, str(first))
        stamp = time.time() - 100 + i
        os.utime(tmp_path / "cache" / k / venv_cache.MANIFEST, (stamp, stamp))
    assert sorted(os.listdir(tmp_path / "cache")) == ["b", "c"]
    manifest = json.loads((tmp_path / "cache" / "c" / venv_cache.MANIFEST).read_text())
    assert manifest["prefix"] == str(first) and "bin/tool" in manifest["rewrite"]
