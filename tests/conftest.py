"""What both test folders (tests/python, tests/cli) share: the markers of the tiers.

- `blender`: the test runs a Blender. Set here on every test that uses a fixture
  that runs one (`flavour`, `scenes`, `demo_blend`, a module's reference frames:
  each says so with `@marks_its_tests("blender")`, support.py) or is marked
  `matrix`; a test that starts one itself says so (`@pytest.mark.blender`).
  `pytest -m "not blender"` runs the rest in seconds, and `scripts/test.sh
  --quick` runs it with no Blender to be found (tests/no_blender/), so a test
  that needs one and is not marked fails there instead of slowing the inner loop.
- `smoke`: one small render per Blender flavour, for the inner loop.
- `slow`: builds, installs or runs of many seconds that no other test needs
  (pip installs into new venvs, the Ray cluster, the soak); `-m "not slow"`.
- `matrix(engines=None)`: also run on the extra bpy versions (tests/python/conftest.py).
"""
import os
import shutil
import tempfile

import pytest
from hypothesis import Phase, settings

_private_tmp = []

# The property tests' settings when a mutant is under test (tests/mutation/*.py set
# BLENDARRAY_MUTATION=1): a failing example is enough, its shrinking (minutes for a
# test that renders) is for a person reading a failure.
settings.register_profile("mutation", phases=(Phase.explicit, Phase.reuse, Phase.generate))
if os.environ.get("BLENDARRAY_MUTATION"):
    settings.load_profile("mutation")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Also: a private TMPDIR for the session, for this process and everything it
    starts (Blender workers make their folders there). The tests that check that
    nothing is left behind look there, so another run on the machine cannot fail them."""
    d = tempfile.mkdtemp(prefix="ba")  # short: Unix socket paths under it (torch's) end at 107
    _private_tmp.append(d)
    os.environ["TMPDIR"] = d
    tempfile.tempdir = None  # tempfile.gettempdir() reads TMPDIR again
    if config.option.basetemp is None and not hasattr(config, "workerinput"):
        config.option.basetemp = os.path.join(d, "t")  # tmp_path: <d>/t/<test name>
    for line in ("blender: runs a Blender (set on every test with a Blender fixture)",
                 "smoke: one small render per Blender flavour (scripts/test.sh --quick)",
                 "slow: installs, builds or long runs (-m 'not slow' leaves them out)",
                 "matrix(engines=None): also run on the extra bpy versions "
                 "(scripts/blenders.txt); engines= limits the engine variants there"):
        config.addinivalue_line("markers", line)


# Test files whose tests run in one process, in order, when pytest-xdist spreads the
# others one by one over its workers (--dist loadgroup, scripts/test.sh): their module
# fixtures are costly (a Ray cluster, torch's reference frames). (The documentation's
# examples run each in its own temporary folder: spread like the rest.)
TOGETHER = ("test_ray.py", "test_torch.py")


@pytest.hookimpl(tryfirst=True)  # before -m reads the marks
def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.path.name in TOGETHER:
            item.add_marker(pytest.mark.xdist_group(item.path.name))
        if item.get_closest_marker("matrix"):
            item.add_marker(pytest.mark.blender)
        info = getattr(item, "_fixtureinfo", None)
        for name in item.fixturenames:
            for fixdef in info.name2fixturedefs.get(name, ()) if info else ():
                for mark in getattr(fixdef.func, "test_marks", ()):
                    item.add_marker(mark)


def pytest_sessionfinish(session, exitstatus):
    if exitstatus not in (0, 5) and _private_tmp:  # kept for a look at what failed
        _private_tmp.clear()


def pytest_unconfigure(config):
    for d in _private_tmp:
        shutil.rmtree(d, ignore_errors=True)
