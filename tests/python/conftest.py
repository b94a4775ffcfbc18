"""Fixtures: which Blenders to test with, and the test scenes each builds.

Every test that renders runs once per Blender flavour of the full suite:
Debian's `blender` binary and the `bpy` module. A test marked `matrix` also
runs on each extra bpy version (support.EXTRA_FLAVOURS, installed by
scripts/install-blenders.sh); `matrix(engines=[...])` limits its `engine`
variants on those extra flavours to the ones named (the others are deselected).
`pytest -m matrix` runs the version matrix alone.

A flavour that is missing fails the run when BLENDARRAY_REQUIRE_FLAVOURS=1
(the project's test script sets it), so a broken install cannot pass as
"skipped" -- except an extra flavour whose Python does not exist on this
machine (bpy 5.2 needs Python 3.13): skipped, with a warning at the end.
"""
import os

import pytest

from support import (EXTRA_FLAVOURS, FLAVOURS, MATRIX_FLAVOURS, _flavours, blender_kw,
                     marks_its_tests, python_exists, scene_folder)

_untested = {}  # extra flavour -> why it was skipped: repeated at the end of the run


def pytest_generate_tests(metafunc):
    if "flavour" in metafunc.fixturenames:
        matrix = metafunc.definition.get_closest_marker("matrix") is not None
        metafunc.parametrize("flavour", MATRIX_FLAVOURS if matrix else FLAVOURS, indirect=True)


def pytest_collection_modifyitems(config, items):
    """matrix(engines=[...]): on the extra flavours, only those engine variants."""
    keep, drop = [], []
    for item in items:
        m = item.get_closest_marker("matrix")
        params = getattr(getattr(item, "callspec", None), "params", {})
        engines = m.kwargs.get("engines") if m is not None else None
        if (engines is not None and params.get("flavour") in EXTRA_FLAVOURS
                and "engine" in params and params["engine"] not in engines):
            drop.append(item)
        else:
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture
@marks_its_tests("blender")
def flavour(request):
    name = request.param
    if name not in _flavours():
        extra = EXTRA_FLAVOURS.get(name)
        if extra is not None and not python_exists(extra.python_minor):
            why = (f"bpy {extra.bpy} NOT TESTED: no Python {extra.python_minor} on this "
                   f"machine (bpy {extra.bpy} needs it); install one and run "
                   f"scripts/install-blenders.sh")
            pytest.skip(why)
        hint = (f" (run scripts/install-blenders.sh: it makes {extra.venv})"
                if extra is not None else "")
        if os.environ.get("BLENDARRAY_REQUIRE_FLAVOURS") == "1":
            pytest.fail(f"Blender flavour {name!r} is not installed{hint}")
        pytest.skip(f"Blender flavour {name!r} is not installed{hint}")
    return name


def pytest_runtest_logreport(report):
    """Skips of a missing extra flavour, gathered where the summary is written (in
    the main process also when pytest-xdist runs the tests in others)."""
    if report.skipped and isinstance(report.longrepr, tuple) and "NOT TESTED" in report.longrepr[2]:
        why = report.longrepr[2].removeprefix("Skipped: ")
        _untested[why.split(" NOT TESTED")[0]] = why


def pytest_terminal_summary(terminalreporter):
    if _untested:
        tr = terminalreporter
        tr.section("Blender versions NOT TESTED", sep="!", red=True, bold=True)
        for name, why in sorted(_untested.items()):
            tr.line(f"{name}: {why}", red=True, bold=True)


_scene_dirs = {}


@pytest.fixture(scope="module")
@marks_its_tests("blender")
def warm():
    """warm(flavour, scene, **settings): a Renderer of that Blender, scene and settings
    (passes, annotations, ...), started at its first use in a test module and shared
    by the module's tests, closed at its end. What changes per frame (engine, samples,
    resolution, frame) goes to .render(): the worker renders each frame with its own
    settings and the scene's own for the rest, whatever it rendered before."""
    import json

    import blendarray as ba
    live = {}

    def get(flavour, scene, **settings):
        key = (flavour, scene, json.dumps(settings, sort_keys=True))
        if key not in live:
            live[key] = ba.Renderer(scene, ring=8, **settings, **blender_kw(flavour))
        return live[key]
    try:
        yield get
    finally:
        for r in live.values():
            r.close()


@pytest.fixture
@marks_its_tests("blender")
def scenes(flavour, tmp_path_factory):
    """Directory of the test scenes, saved by this flavour's Blender (a 3.x Blender
    cannot read files saved by 5.x); made once per Blender and script (support.scene_folder)."""
    if flavour not in _scene_dirs:
        _scene_dirs[flavour] = scene_folder(flavour, str(tmp_path_factory.mktemp(f"scenes-{flavour}")))
    return lambda name: os.path.join(_scene_dirs[flavour], name + ".blend")
