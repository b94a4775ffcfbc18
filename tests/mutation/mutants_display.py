"""Deliberate bugs in the display image made by blendarray (issue 13: Blender's
colour management applied to the rgba pass): each must make its tests fail.
Same format as mutants.py."""

T_DISPLAY = "tests/python/test_display.py"
DISPLAY_C = "src/display.c"
DISPLAY_PY = "python/blendarray/blender/display.py"
C_DISPLAY = ["sh", "-c", "ninja -C build/dev tests/c/test_display >/dev/null && "
                         "build/dev/tests/c/test_display"]

DISPLAY_MUTANTS = [
    {
        "id": "display-sines-block-not-64",
        "promise": "Blender 3.x's dither: two sines per block of 64 rows, as Blender makes them",
        "edits": [(DISPLAY_C, "#define SINES_BLOCK 64", "#define SINES_BLOCK 72")],
        "tests": [["pytest", T_DISPLAY, "-k", "equals_blenders_png and blender]"]],
    },
    {
        "id": "display-3x-dither-is-the-hash",
        "promise": "each Blender's own dither noise (3.x sines, 4.5+ hash)",
        "edits": [(DISPLAY_PY, "        return _lib.DITHER_SINES\n", "        return _lib.DITHER_HASH\n")],
        "tests": [["pytest", T_DISPLAY, "-k", "equals_blenders_png and blender]"]],
    },
    {
        "id": "display-no-predivide",
        "promise": "a transparent film's display equals Blender's (predivide before the view)",
        "edits": [("src/display.c", "        if (a != 0.0f && a != 1.0f) { /* Blender's predivide: multiply by the inverse */",
                   "        if (0) { /* Blender's predivide: multiply by the inverse */")],
        "tests": [["pytest", T_DISPLAY, "-k", "equals_blenders_png and bpy]"]],
    },
    {
        "id": "display-rounds-down",
        "promise": "float to byte as Blender rounds it (255 v + 0.5, truncated)",
        "edits": [(DISPLAY_C, "float t = 255.0f * v + 0.5f;", "float t = 255.0f * v + 0.49f;")],
        "tests": [C_DISPLAY],
    },
    {
        "id": "display-exposure-ignored",
        "promise": "the scene's exposure applies to the display image",
        "edits": [(DISPLAY_PY, "    scale = 1.0 if exposure == 0.0 else float(_libm.powf(2.0, exposure))",
                   "    scale = 1.0")],
        "tests": [["pytest", T_DISPLAY, "-k", "equals_blenders_png and bpy]"]],
    },
    {
        "id": "display-look-ignored",
        "promise": "the scene's look applies to the display image",
        "edits": [(DISPLAY_PY, '    use_look = look not in ("", "None")', "    use_look = False")],
        "tests": [["pytest", T_DISPLAY, "-k", "equals_blenders_png and bpy]"]],
    },
    {
        "id": "display-partial-alpha-not-straightened",
        "promise": "a transparent film's edges: premultiplied again, then straight alpha, as Blender",
        "edits": [(DISPLAY_C, "any |= src[4 * x + 3] != 0.0f", "any |= 0 && src[4 * x + 3] != 0.0f")],
        "tests": [C_DISPLAY],
    },
    {
        "id": "display-curve-mapping-not-a-fallback",
        "promise": "a curve mapping (not OpenColorIO's) makes Blender's route take over",
        "edits": [(DISPLAY_PY, "    elif vs.use_curve_mapping:", "    elif False:")],
        "tests": [["pytest", T_DISPLAY, "-k", "blenders_route and bpy]"]],
    },
    {
        "id": "display-without-rgba-by-blender",
        "promise": "a display image without the rgba pass asked for is made from a private "
                   "rgba (OpenColorIO), not by Blender's slow route",
        "edits": [("python/blendarray/blender/__init__.py",
                   '    if display is True and wanted is not None and "rgba" not in wanted and len(layers) == 1:',
                   '    if False:')],
        "tests": [["pytest", T_DISPLAY, "-k", "private_one and bpy"]],
    },
    {
        "id": "display-private-rgba-returned",
        "promise": "the rgba captured only to make the display image is not in the frame",
        "edits": [("python/blendarray/blender/__init__.py",
                   "    for name in private:\n        out.pop(name, None)\n", "")],
        "tests": [["pytest", T_DISPLAY, "-k", "private_rgba_to_themselves"]],
    },
]
