"""display=True made by blendarray (Blender's OpenColorIO and config, applied to
the rgba pass) against Blender's own PNG of the same render (display="blender"),
pixel for pixel, on every Blender: every view transform the Blender has, looks,
exposure, gamma, dither on and off, a transparent film; and the cases that must
fall back to Blender's route by themselves."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import blendarray as ba
from support import PACKAGE_DIR, SCRIPTS, blender_kw

HOOK = os.path.join(SCRIPTS, "colour_hooks.py") + ":colour"
VIEWS = ["Standard", "Filmic", "Filmic Log", "False Color", "Raw", "AgX", "Khronos PBR Neutral",
         "ACES 1.3", "ACES 2.0"]
CASES = ([{"view": v} for v in VIEWS] + [{"view": v, "dither": 1.0} for v in VIEWS]
         + [{"view": "Filmic", "look": "Medium High Contrast", "exposure": 0.7, "gamma": 1.3},
            {"view": "Filmic", "look": "Very Low Contrast", "dither": 0.5, "transparent": True},
            {"view": "AgX", "look": "AgX - Punchy"},
            {"view": "AgX", "look": "AgX - Greyscale", "exposure": -1.5, "dither": 1.0},
            {"view": "AgX", "look": "AgX - Punchy", "exposure": 0.7, "gamma": 1.3, "dither": 1.0,
             "transparent": True},
            {"view": "Standard", "exposure": 2.5, "gamma": 0.6, "dither": 2.0},
            {"view": "Standard", "transparent": True, "dither": 1.0},
            # rows across three of Blender 3.x's 64-row dither blocks and a short last one
            {"view": "Standard", "dither": 1.0, "resolution": [40, 200]},
            # past display.PIXELS_A_THREAD: made on the render's threads (2 here), the
            # last rows in quarter blocks; the smaller cases above are made on one
            {"view": "Filmic", "dither": 1.0, "resolution": [256, 160]}])
# bpy 4.2 ships no PyOpenColorIO: Blender's own route makes its display images
NO_BINDING = {"bpy-4.2"}
KW = dict(passes=["rgba"], engine="CYCLES", samples=2, resolution=(96, 72), setup=HOOK)


def _render(flavour, display, cases):
    with ba.Renderer(None, display=display, **KW, **blender_kw(flavour)) as r:
        return [f.copy() for f in r.frames(cases)]


@pytest.mark.matrix
def test_fast_display_equals_blenders_png(flavour):
    fast = _render(flavour, True, CASES)
    blender = _render(flavour, "blender", CASES)
    compared, fallbacks, report = 0, 0, []
    for case, a, b in zip(CASES, fast, blender):
        assert a.meta["applied"] == b.meta["applied"]
        if not a.meta["applied"]:
            continue  # this Blender has no such view or look
        assert b.meta["display_route"] == "blender"
        assert np.array_equal(a["rgba"], b["rgba"]), "the two renders must be the same"
        if a.meta["display_route"] != "ocio":
            why = a.meta["display_fallback"]
            if flavour in NO_BINDING and "PyOpenColorIO" in why:
                fallbacks += 1  # Blender's own route: the same image, as slow as ever
                assert np.array_equal(a["display"], b["display"])
            else:
                report.append(f"{case}: Blender's route ({why})")
            continue
        differ = int((a["display"] != b["display"]).any(-1).sum())
        if differ:
            report.append(f"{case}: {differ} pixels differ")
        compared += 1
    print(f"\n{flavour}: {compared} cases compared, {fallbacks} on Blender's route")
    assert not report, "\n".join(report)
    if flavour in NO_BINDING:
        assert compared == 0 and fallbacks >= 12
    else:  # the views of the oldest Blender, with and without dither, and more
        assert compared >= 12


FALLBACKS = [({"view": "Standard", "curve": True}, "curve mapping"),
             ({"view": "Standard", "compositing": True}, "compositor")]


def test_what_cannot_be_exact_takes_blenders_route(flavour):
    """Curve mapping and the compositor: Blender's route, by itself, said in meta;
    display='blender' too."""
    with ba.Renderer(None, display=True, **KW, **blender_kw(flavour)) as r:
        got = [f.meta for f in r.frames([c for c, _ in FALLBACKS])]
    for (case, why), meta in zip(FALLBACKS, got):
        assert meta["display_route"] == "blender" and why in meta["display_fallback"], meta
    with ba.Renderer(None, display="blender", **KW, **blender_kw(flavour)) as r:
        meta = r.render(view="Standard").meta
    assert meta["display_route"] == "blender" and "asked for" in meta["display_fallback"]


@pytest.mark.parametrize("engine", ["CYCLES", "WORKBENCH"])
def test_a_display_without_the_rgba_pass_is_made_from_a_private_one(flavour, engine):
    """passes without rgba (or none at all): the rgba pass is captured, out of sight,
    to make the display image, which equals Blender's own; the frame holds only
    what was asked for, in the renderer's memory, and says so in its meta."""
    kw = dict(KW, engine=engine, samples=2 if engine == "CYCLES" else 1)
    got = {}
    for passes in (["depth"], []):
        with ba.Renderer(None, display=True, **dict(kw, passes=passes),
                         **blender_kw(flavour)) as r:
            got[len(passes)] = r.render(view="Filmic").copy()
    with ba.Renderer(None, display="blender", **kw, **blender_kw(flavour)) as r:
        ref = r.render(view="Filmic")
    for f in got.values():
        if flavour in NO_BINDING:
            assert f.meta["display_route"] == "blender", f.meta
        else:
            assert f.meta["display_route"] == "ocio", f.meta.get("display_fallback")
        assert np.array_equal(f["display"], ref["display"])
    assert list(got[1]) == ["depth", "display"] and list(got[1].meta["passes"]) == ["depth"]
    assert list(got[0]) == ["display"] and got[0].meta["passes"] == {}


IN_BLENDER = """
import json
import bpy
import blendarray.blender as bab
from blendarray.blender import scenes
scenes.build_demo()
bab.configure(engine="WORKBENCH", samples=1, resolution=(32, 24))
f = bab.render(passes=["depth"], display=True)
g = bab.capture(passes=[], display=True)
print("RESULT", json.dumps([list(f), list(f.meta["passes"]), f.meta["display_route"],
                            list(g), g.meta["display_route"]]))
"""


@pytest.mark.blender
def test_in_blender_render_and_capture_keep_the_private_rgba_to_themselves():
    """Inside Blender (the bpy module): render() and capture() return what was asked for."""
    p = subprocess.run([sys.executable, "-c", IN_BLENDER], capture_output=True, text=True,
                       timeout=300, env=dict(os.environ, PYTHONPATH=PACKAGE_DIR))
    assert p.returncode == 0, p.stderr[-3000:]
    got = json.loads(p.stdout.split("RESULT", 1)[1])
    assert got == [["depth", "display"], ["depth"], "ocio", ["display"], "ocio"], got


def test_display_must_be_a_known_value():
    with pytest.raises(ba.BlendArrayError, match="display must be"):
        ba.Renderer(None, display="fast")


def test_unreadable_config_takes_blenders_route(flavour, monkeypatch, tmp_path):
    """$OCIO naming a config OpenColorIO cannot read: Blender falls back on its own
    colour management; blendarray says why and lets Blender make the image."""
    bad = tmp_path / "config.ocio"
    bad.write_text("ocio_profile_version: 2\nroles: [this is not a config\n")
    monkeypatch.setenv("OCIO", str(bad))
    if flavour == "blender":  # Blender 3.4 itself aborts on such a config: its words say why
        with pytest.raises(ba.WorkerError, match="(?s)SIGABRT while starting.*OCIO profile"):
            ba.Renderer(None, display=True, **KW, **blender_kw(flavour))
        return
    with ba.Renderer(None, display=True, **KW, **blender_kw(flavour)) as r:
        f = r.render(view="Standard")
    assert f.meta["display_route"] == "blender", f.meta
    assert str(bad) in f.meta["display_fallback"], f.meta["display_fallback"]
    assert f["display"].shape == (72, 96, 4)
