"""The tiers' markers (tests/conftest.py) say what each test needs: `-m "not blender"`
leaves out every test that runs a Blender and nothing else, and in the quick tier's
environment (tests/no_blender) a test that runs one unmarked fails, naming the mark."""
import os
import subprocess
import sys

from support import PACKAGE_DIR, ROOT

NO_BLENDER = os.path.join(ROOT, "tests", "no_blender")

# prints each collected test with its marks: one collection for the whole suite
MARKS_PLUGIN = '''
def pytest_collection_finish(session):
    for item in session.items:
        print("MARKS", item.nodeid, " ".join(sorted({m.name for m in item.iter_markers()})))
'''


def _marks(tmp_path):
    (tmp_path / "print_marks.py").write_text(MARKS_PLUGIN)
    p = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p",
                        "no:cacheprovider", "-p", "print_marks", "tests/python", "tests/cli"],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONPATH=os.pathsep.join(
                           [str(tmp_path), os.environ.get("PYTHONPATH", "")])))
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    out = {}
    for line in p.stdout.splitlines():
        if line.startswith("MARKS "):
            _, nodeid, *marks = line.split(" ")
            out[nodeid] = set(marks)
    return out


def test_blender_marks_split_the_suite(tmp_path):
    marks = _marks(tmp_path)
    blender = {t for t, m in marks.items() if "blender" in m}
    rest = set(marks) - blender
    # every test of a Blender flavour (the flavour fixture), of the scene fixtures and
    # of a module's reference frames (test_torch's `ref`)
    flavoured = {t for t in marks if "[blender" in t or "[bpy" in t}
    assert len(flavoured) > 150 and flavoured <= blender, sorted(flavoured - blender)[:5]
    for t in ["tests/cli/test_render_cli.py::test_npz_equals_python_api",  # demo_blend
              "tests/python/test_torch.py::test_epochs_randomize_deterministically",  # ref
              "tests/python/test_readme.py::test_python_example"]:  # marked by its module
        assert t in blender, t
    # and none that needs none
    kernel = {t for t in marks if t.startswith("tests/python/test_labels_kernel.py")}
    assert len(kernel) > 20 and kernel <= rest
    for t in ["tests/python/test_torch.py::test_bad_input",
              "tests/cli/test_inspect_preview.py::test_inspect_help"]:
        assert t in rest, t
    # slow: the Ray cluster's tests (a fixture's mark), pip installs (a module's)
    assert "slow" in marks["tests/python/test_ray.py::test_node_without_blender_is_named"]
    assert "slow" not in marks["tests/python/test_ray.py::test_bad_arguments_are_value_errors[kw0]"]
    smoke = {t for t, m in marks.items() if "smoke" in m}
    assert {t.split("[")[1].rsplit("-", 1)[0] for t in smoke} == {
        "blender", "bpy", "bpy-4.2", "bpy-4.5", "bpy-5.2"}, smoke


def test_an_unmarked_render_fails_in_the_quick_tier(tmp_path):
    (tmp_path / "test_unmarked.py").write_text(
        "import blendarray as ba\n\n"
        "def test_renders_unmarked():\n"
        "    ba.render(resolution=(8, 8), engine='WORKBENCH')\n\n"
        "def test_renders_bpy_unmarked():\n"
        "    ba.render(resolution=(8, 8), engine='WORKBENCH', blender='bpy')\n")
    env = dict(os.environ, PATH=os.path.join(NO_BLENDER, "bin") + os.pathsep + os.environ["PATH"],
               PYTHONPATH=os.pathsep.join([NO_BLENDER, PACKAGE_DIR]))
    p = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(tmp_path / "test_unmarked.py")], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stdout[-3000:]
    assert "2 failed" in p.stdout, p.stdout[-3000:]
    assert p.stdout.count("is not marked `blender`") >= 2, p.stdout[-3000:]
