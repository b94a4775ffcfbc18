# scripts/test.sh --quick puts this folder first on PYTHONPATH (and bin/ first on
# PATH) while it runs the tests not marked `blender`: a test that runs a Blender
# anyway fails at once, saying it must be marked (tests/conftest.py).
raise ImportError("bpy is hidden: this test runs a Blender but is not marked `blender` "
                  "(tests/conftest.py)")
