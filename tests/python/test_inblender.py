"""blendarray.blender, run inside each Blender flavour."""
import os

from support import SCRIPTS, run_blender


def test_inblender_api(flavour, scenes):
    p = run_blender(flavour, os.path.join(SCRIPTS, "inblender_api.py"),
                    os.path.dirname(scenes("demo")))
    assert "IN-BLENDER API OK" in p.stdout
