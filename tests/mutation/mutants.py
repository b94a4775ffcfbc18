"""Deliberate bugs, one per promise the README makes: each must make its tests fail.

Each mutant: id, the promise it breaks, edits (path, text to replace, once, and
its replacement), and the test commands that must catch it (["pytest", args...]
runs pytest with the checkout's .venv; any other list runs as is, in the copy).
Keep the selected tests few and fast: the runner rebuilds and reruns per mutant.
A new promise gets a new mutant here.
"""

T_NEW = "tests/python/test_new_user.py"
T_CLI = "tests/cli/test_render_cli.py"
T_PREVIEW = "tests/cli/test_inspect_preview.py"

MUTANTS = [
    # -- issue 8: what a new user hit in the first hour --------------------------------
    {
        "id": "rect-flat-learned-from-1ch",
        "promise": "Cycles passes come out whatever their order (1-, 3-, 4-channel)",
        "edits": [("python/blendarray/blender/routes.py",
                   "    if channels == 1:\n        rect.foreach_get(dst.reshape(-1))\n        return\n",
                   "")],
        "tests": [["pytest", T_NEW, "-k", "pass_order_does_not_matter and blender"]],
    },
    {
        "id": "denoiser-empty-enum-unseen",
        "promise": "Blender's default scene renders with Cycles on a Blender without OIDN",
        "edits": [("python/blendarray/blender/__init__.py",
                   'if denoiser == "":', 'if denoiser == "NONE":')],
        "tests": [["pytest", T_NEW, "-k", "default_scene_renders and blender-CYCLES"]],
    },
    {
        "id": "crash-report-fixed-name",
        "promise": "WorkerError carries the crash report Blender wrote, whatever its name",
        "edits": [("python/blendarray/_worker.py", '"*.crash.txt"', '"blender.crash.txt"')],
        "tests": [["pytest", T_NEW, "-k", "crash_report_is_attached and blender"]],
    },
    {
        "id": "no-close-at-exit",
        "promise": "an unclosed Renderer stops its workers itself at exit",
        "edits": [("python/blendarray/_renderer.py", "@atexit.register\n", "")],
        "tests": [["pytest", T_NEW, "-k", "stops_workers_itself and blender"]],
    },
    {
        "id": "no-size-check-in-blender",
        "promise": "an image too large is refused before rendering, whatever asks for it",
        "edits": [("python/blendarray/blender/__init__.py",
                   "        check_resolution((w, h))\n", "        pass\n")],
        "tests": [["pytest", T_NEW, "-k", "huge_image and blender"]],
    },
    {
        "id": "extension-loaded-lazily",
        "promise": "a consumer without the built extension hears why, at once",
        "edits": [("python/blendarray/_worker.py",
                   "        load_core()  # before any Blender starts", "        # before any Blender starts")],
        "tests": [["pytest", T_NEW, "-k", "missing_extension"]],
    },
    {
        "id": "depth-background-threshold",
        "promise": "depth_background replaces exactly the pixels that saw no geometry",
        "edits": [("python/blendarray/blender/__init__.py", "clip_end * (1 - 1e-4)", "clip_end * 1.01")],
        "tests": [["pytest", T_NEW, "-k", "depth_background and bpy-EEVEE"]],
    },
    {
        "id": "hook-globals-dropped",
        "promise": "a hook defined in a script or at a prompt sees its module's imports",
        "edits": [("python/blendarray/_hooks.py",
                   "    for entry in spec.get(\"globals\") or ():\n        _apply(entry, ns)\n", "")],
        "tests": [["pytest", T_NEW, "-k", "hook_sees_its_module and blender-script"]],
    },
    {
        "id": "hook-traceback-twice",
        "promise": "a hook's error shows its traceback once, naming index and scene frame",
        "edits": [("python/blendarray/blender/worker.py",
                   "                if not isinstance(e, BlendArrayError):  # ours carry",
                   "                if True:  # ours carry"),
                  ("python/blendarray/_renderer.py",
                   "    if err.get(\"type\") not in BY_NAME:", "    if err.get(\"traceback\"):")],
        "tests": [["pytest", T_NEW, "-k", "traceback_once and blender"]],
    },
    {
        "id": "cli-meta-not-written",
        "promise": "every CLI output keeps each frame's metadata",
        "edits": [("cli/render.c", "    int merr = write_meta(o, f);", "    int merr = 0 && write_meta(o, f);")],
        "tests": [["pytest", T_CLI, "-k", "metadata_equals_python_api"]],
    },
    {
        "id": "cli-any-extension",
        "promise": "an output that is not .npz, a folder or - is refused",
        "edits": [("cli/render.c", 'strcasecmp(output + olen - 4, ".npz") != 0', "0")],
        "tests": [["pytest", T_CLI, "-k", "unknown_output_is_refused"]],
    },
    {
        "id": "cli-crash-report-fixed-name",
        "promise": "the CLI's error carries the crash report Blender wrote, whatever its name",
        "edits": [("src/renderer.c", 'strcmp(e->d_name + len - 10, ".crash.txt") != 0',
                   'strcmp(e->d_name, "blender.crash.txt") != 0')],
        "tests": [["pytest", T_CLI, "-k", "crash_report_is_attached"]],
    },
    {
        "id": "cli-warnings-silent",
        "promise": "the CLI says on stderr when it rendered other than the scene asked",
        "edits": [("cli/render.c", "    print_warnings(o, f);\n", "    if (0) print_warnings(o, f);\n")],
        "tests": [["pytest", T_CLI, "-k", "default_scene and cycles"]],
    },
    {
        "id": "preview-depth-minmax",
        "promise": "preview colour-maps depth over its foreground, not the background marker",
        "edits": [("cli/preview.c", "#define BG_MIN 65504.0", "#define BG_MIN 1e30")],
        "tests": [["pytest", T_PREVIEW, "-k", "preview_leaves_the_depth_background_out"]],
    },
]
