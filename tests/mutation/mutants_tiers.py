"""Deliberate bugs for issue 20 (the test tiers): the test cache must never hide a
change, and the quick tier must see a test that runs a Blender unmarked. Same
format as mutants.py."""

T_CACHE = "tests/python/test_blender_cache.py"
ORIENTATION = ["pytest", "tests/python/test_render.py", "-k", "orientation and blender-CYCLES"]

TIER_MUTANTS = [
    {
        "id": "test-scene-built-otherwise",
        "promise": "a cached test scene is made anew when its script changes",
        "edits": [("tests/scenes/make_scenes.py",
                   '    S.add_plane(sc, "Square", 1.2, 1.2, (-1.8, 1.35, 0.0), (1.0, 0.5, 0.0), 7)',
                   '    S.add_plane(sc, "Square", 1.2, 1.2, (-1.5, 1.35, 0.0), (1.0, 0.5, 0.0), 7)')],
        "tests": [ORIENTATION],
    },
    {
        "id": "scene-module-changed",
        "promise": "a cached test scene is made anew when a module its script used changes",
        "edits": [("python/blendarray/blender/scenes.py", "    cam.lens = lens\n",
                   "    cam.lens = lens * 1.1\n")],
        "tests": [ORIENTATION],
    },
    {
        "id": "cache-ignores-dependencies",
        "promise": "a cache entry is used only while the files its run used are unchanged",
        "edits": [("tests/python/blender_cache.py",
                   "        if not os.path.isfile(p) or file_hash(p) != digest:",
                   "        if not os.path.isfile(p):")],
        "tests": [["pytest", T_CACHE, "-k", "anew and blender"]],
    },
    {
        "id": "cache-ignores-the-blender",
        "promise": "another Blender (version or binary) makes its own cache entries",
        "edits": [("tests/python/blender_cache.py", '    h.update(identity.encode() + b"\\0")\n', "")],
        "tests": [["pytest", T_CACHE, "-k", "anew and blender"]],
    },
    {
        "id": "cache-ignores-inputs",
        "promise": "a cache entry is keyed on its input files' contents (a scene file)",
        "edits": [("tests/python/blender_cache.py",
                   '            h.update(b"in:" + file_hash(a).encode())',
                   '            h.update(b"in:" + a.encode())')],
        "tests": [["pytest", T_CACHE, "-k", "anew and blender"]],
    },
    {
        "id": "blender-fixture-unmarked",
        "promise": "a test that uses a Blender fixture is marked `blender` (the quick tier)",
        "edits": [("tests/conftest.py", "                for mark in getattr(fixdef.func, \"test_marks\", ()):",
                   "                for mark in getattr(fixdef.func, \"test_marks\", ())[1:]:")],
        "tests": [["pytest", "tests/python/test_tiers.py"]],
    },
]
