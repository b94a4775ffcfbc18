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
T_RENDER = "tests/python/test_render.py"
T_RR = "tests/python/test_renderer.py"
T_BAD = "tests/python/test_bad_input.py"

MUTANTS = [
    {
        "id": "renderer-queued-frames-charged",
        "promise": "a worker's crash costs a retry of the frame it was rendering only, not of the frames queued behind it",
        "edits": [("src/renderer.c", "if (err == BA_OK && i == 0 && ++jb->t->attempts",
                   "if (err == BA_OK && ++jb->t->attempts")],
        "tests": [["pytest", "tests/python/test_props_scheduling.py", "-k", "dying_worker"]],
    },
    {
        "id": "renderer-generator-holds-a-frame",
        "promise": "a frame the consumer dropped frees its ring slot (held counts the frames still kept)",
        "edits": [("python/blendarray/_renderer.py", "yield _frame(*got.pop())", "yield _frame(*got[0])")],
        "tests": [["pytest", "tests/python/test_props_scheduling.py", "-k", "keeps_frames"]],
    },
    # -- issue 14: one per promise of the README (the mutation check's first findings) --
    {
        "id": "no-row-flip",
        "promise": "row 0 is the top of the image (Cycles route)",
        "edits": [("python/blendarray/blender/routes.py", "                _lib.flip_rows(dst)\n",
                   "                pass\n")],
        "tests": [["pytest", T_RENDER, "-k", "orientation and blender-CYCLES"]],
    },
    {
        "id": "exr-pixel-one-ulp",
        "promise": "every pass is bit for bit what Blender writes to its EXR (EXR route)",
        "edits": [("python/blendarray/blender/routes.py", "            exr.read_many(requests)\n",
                   "            exr.read_many(requests)\n"
                   "            for _, d in requests[:1]:\n"
                   "                d.reshape(-1)[7:8].view(np.uint32)[...] += 1\n")],
        "tests": [["pytest", T_RENDER, "-k", "every_pass and blender-WORKBENCH"]],
    },
    {
        "id": "exr-channels-reversed",
        "promise": "channels come in Blender's order (vector XYZW, uv UVA, rgba RGBA)",
        "edits": [("python/blendarray/blender/routes.py", '"".join(P.channel_order(cs))',
                   '"".join(P.channel_order(cs))[::-1] if len(cs) == 4 and "W" in cs '
                   'else "".join(P.channel_order(cs))')],
        "tests": [["pytest", T_RENDER, "-k", "every_pass and bpy-EEVEE"]],
    },
    {
        "id": "display-off-by-one",
        "promise": "display equals Blender's own PNG pixel for pixel",
        "edits": [("python/blendarray/blender/routes.py",
                   '    _lib.png_decode_rgba8_fd(fd, arrays["display"])\n',
                   '    _lib.png_decode_rgba8_fd(fd, arrays["display"])\n'
                   '    arrays["display"][0, 0, 0] ^= 1\n')],
        "tests": [["pytest", T_RENDER, "-k", "own_display_route and blender-WORKBENCH"]],
    },
    {
        "id": "display-alpha-opaque",
        "promise": "display keeps the film's alpha (transparent film)",
        "edits": [("python/blendarray/blender/routes.py",
                   '    _lib.png_decode_rgba8_fd(fd, arrays["display"])\n',
                   '    _lib.png_decode_rgba8_fd(fd, arrays["display"])\n'
                   '    arrays["display"][..., 3] = 255\n')],
        "tests": [["pytest", T_RENDER, "-k", "own_display_route and blender-WORKBENCH"]],
    },
    {
        "id": "intrinsics-cx-flipped",
        "promise": "K projects scene points where they appear in the arrays",
        "edits": [("python/blendarray/blender/meta.py", "    cx = w / 2.0 - cam.shift_x * view",
                   "    cx = w / 2.0 - cam.shift_x * view + 1")],
        "tests": [["pytest", T_RENDER, "-k", "orientation and blender-CYCLES"]],
    },
    {
        "id": "frames-skip-gaps",
        "promise": "frames are delivered in order, even after a worker is killed",
        "edits": [("src/renderer.c", "    if (!(flags & BA_NEXT_ANY)) {", "    if (!(flags & BA_NEXT_ANY) && 0) {")],
        "tests": [["pytest", "tests/python/test_faults.py", "-k", "random_worker_kills and blender"]],
    },
    {
        "id": "retry-with-empty-params",
        "promise": "a frame re-rendered after a crash keeps its frame number and params",
        "edits": [("src/renderer.c", "            err = enqueue(r, jb->t); /* rendered again first, in order */",
                   "            json_object_clear(jb->t->params);\n"
                   "            json_object_clear(jb->t->user);\n"
                   "            err = enqueue(r, jb->t);")],
        "tests": [["pytest", T_RR, "-k", "retried_frame_keeps_its_params and blender"],
                  ["pytest", "tests/cli/test_faults_cli.py", "-k", "killed_worker_frames_are_rendered_again"]],
    },
    {
        "id": "close-neither-kills-nor-waits",
        "promise": "close() and Ctrl-C stop the workers themselves (not only PR_SET_PDEATHSIG)",
        "edits": [("src/worker.c", "        wait_or_kill(w, verbose, asked ? 5000 : 0);",
                   "        (void)asked, (void)verbose;\n        w->pid = 0;")],
        "tests": [["pytest", T_RR, "-k", "close_stops_workers and blender"],
                  ["pytest", T_RR, "-k", "consumer_that_stays_alive and blender"]],
    },
    {
        "id": "no-sweep-at-start",
        "promise": "a killed consumer's temporary folder is removed by the next consumer",
        "edits": [("python/blendarray/_renderer.py", "        core.tmp_sweep()\n", ""),
                  ("cli/render_open.c", "    if (ba_tmp_sweep(NULL) != BA_OK && c->verbose)",
                   "    if (c->verbose)")],
        "tests": [["pytest", T_RR, "-k", "sweeps_what_a_killed and blender"],
                  ["pytest", "tests/cli/test_faults_cli.py", "-k", "stale_temp_folders"]],
    },
    {
        "id": "frame-mapping-leaked",
        "promise": "nothing is left mapped or open once the frames are gone",
        "edits": [("src/reply.c", "    for (int i = 0; i < h->nmaps; i++) munmap(h->maps[i], h->map_len[i]);\n", "")],
        "tests": [["pytest", T_BAD, "-k", "success_leaves_nothing and blender"]],
    },
    {
        "id": "hook-rng-ignores-seed",
        "promise": "the hook's rng is default_rng([seed, index]): reproducible whatever the workers",
        "edits": [("python/blendarray/blender/worker.py",
                   "rng = np.random.default_rng([*(seed if isinstance(seed, list) else [seed]), index])",
                   "rng = np.random.default_rng(index)")],
        "tests": [["pytest", T_RR, "-k", "in_order_with_setup_hook and blender"]],
    },
    {
        "id": "no-back-pressure",
        "promise": "no frame is dispatched without a free ring slot (bounded memory)",
        "edits": [("src/renderer.c",
                   "    return w->ninflight < most && (free_slot(w) >= 0 || spare_free(w));",
                   "    return w->ninflight < most && (free_slot(w) >= 0 || spare_free(w) || 1);")],
        "tests": [["pytest", T_RR, "-k", "back_pressure and blender"]],
    },
    {
        "id": "timeout-ignored",
        "promise": "timeout= (--timeout) bounds a frame while streaming",
        "edits": [("src/renderer.c", "    for (int i = 0; i < r->nw && err == BA_OK && r->o.timeout > 0; i++) {",
                   "    for (int i = 0; i < r->nw && err == BA_OK && r->o.timeout < 0; i++) {")],
        "tests": [["pytest", T_RR, "-k", "timeout_while_streaming and blender"],
                  ["pytest", "tests/cli/test_faults_cli.py", "-k", "timeout_past_the_retries"]],
    },
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
        "promise": "WorkerError (and the CLI's error) carries the crash report Blender wrote, whatever its name",
        "edits": [("src/worker.c", 'strcmp(e->d_name + len - 10, ".crash.txt") != 0',
                   'strcmp(e->d_name, "blender.crash.txt") != 0')],
        "tests": [["pytest", T_NEW, "-k", "crash_report_is_attached and blender"],
                  ["pytest", T_CLI, "-k", "crash_report_is_attached"]],
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
        "edits": [("python/blendarray/_renderer.py", "    except ImportError as e:\n        import glob",
                   "    except KeyError as e:\n        import glob")],
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
                   "                if True:  # ours carry")],
        "tests": [["pytest", T_NEW, "-k", "traceback_once and blender"]],
    },
    {
        "id": "cli-meta-not-written",
        "promise": "every CLI output keeps each frame's metadata",
        "edits": [("cli/render_outputs.c", "if (!err && o->mode != OUT_NONE) err = write_meta(o, f);",
                   "if (0 && !err && o->mode != OUT_NONE) err = write_meta(o, f);")],
        "tests": [["pytest", T_CLI, "-k", "metadata_equals_python_api"]],
    },
    {
        "id": "cli-any-extension",
        "promise": "an output that is not .npz, a folder or - is refused",
        "edits": [("cli/render_outputs.c", 'strcasecmp(output + olen - 4, ".npz") == 0', "1")],
        "tests": [["pytest", T_CLI, "-k", "unknown_output_is_refused"]],
    },
    {
        "id": "cli-warnings-silent",
        "promise": "the CLI says on stderr when it rendered other than the scene asked",
        "edits": [("cli/render_outputs.c", "    print_warnings(o, f);\n", "    if (0) print_warnings(o, f);\n")],
        "tests": [["pytest", T_CLI, "-k", "default_scene and cycles"]],
    },
    {
        "id": "preview-depth-minmax",
        "promise": "preview colour-maps depth over its foreground, not the background marker",
        "edits": [("cli/preview.c", "#define BG_MIN 65504.0", "#define BG_MIN 1e30")],
        "tests": [["pytest", T_PREVIEW, "-k", "preview_leaves_the_depth_background_out"]],
    },
    # -- issue 9 groundwork: the protocol's guards --------------------------------------
    {
        "id": "blender-imports-consumer",
        "promise": "Blender imports only the in-Blender side of the package",
        "edits": [("python/blendarray/__init__.py", "from ._frame import Frame\n",
                   "from ._frame import Frame\nfrom ._renderer import Renderer  # noqa\n")],
        "tests": [["pytest", "tests/python/test_inblender.py", "-k", "blender"]],
    },
    {
        "id": "protocol-version-unchecked",
        "promise": "a worker of another protocol version is a clear error (Python and CLI)",
        "edits": [("src/renderer.c", "    if (err == BA_OK && json_integer_value(v) != BA_PROTOCOL_VERSION) {",
                   "    if (err == BA_OK && json_integer_value(v) != BA_PROTOCOL_VERSION && 0) {")],
        "tests": [["pytest", T_BAD, "-k", "rogue and version"],
                  ["pytest", "tests/cli/test_faults_cli.py", "-k", "rogue and version"]],
    },
    {
        "id": "reply-bounds-unchecked",
        "promise": "an array outside the memory a worker sent is refused (Python, CLI, fuzzer)",
        "edits": [("src/reply.c", "    if (count != n || o > avail || n > avail - o) return 0;",
                   "    if (count != n || (avail && 0)) return 0;")],
        "tests": [["pytest", T_BAD, "-k", "rogue and outside"],
                  ["pytest", "tests/cli/test_faults_cli.py", "-k", "rogue and outside"],
                  ["make", "-s", "fuzz-replay"]],
    },
]
MUTANTS += [
    {
        "id": "atomic-commit-replaces",
        "promise": "an output is never replaced without --force / overwrite (NPY, stacks, files)",
        "edits": [("src/atomic.c", "    int err = ba_atomic_publish(tmp, path, overwrite);",
                   "    int err = ba_atomic_publish(tmp, path, overwrite || 1);")],
        # the C tests of the outputs that publish through it (all of `make test-c`: 80 s)
        "tests": [["sh", "-c", f"ninja -C build/dev tests/c/{t} >/dev/null && build/dev/tests/c/{t}"]
                  for t in ("test_npystack", "test_npy", "test_npz")],
    },
    {
        "id": "cli-folder-names-collide",
        "promise": "a folder output never overwrites one frame with another (--count, repeats)",
        "edits": [("cli/render_args.c", "p->by_index = a->count > 0 || p->params || (p->frames && has_repeats(p->frames, p->total));",
                   "p->by_index = 0 && (a->count > 0 || p->params || (p->frames && has_repeats(p->frames, p->total)));")],
        "tests": [["pytest", "tests/cli/test_render_cli.py", "-k", "numbers_files_by_index"]],
    },
    {
        "id": "c-pythonpath-replaced",
        "promise": "a bpy worker keeps the user's PYTHONPATH",
        "edits": [("src/worker.c", 'strncmp(e, "TMPDIR=", 7))',
                   'strncmp(e, "TMPDIR=", 7) && strncmp(e, "PYTHONPATH=", 11))')],
        "tests": [["pytest", "tests/cli/test_faults_cli.py", "-k", "keeps_the_users_pythonpath"]],
    },
    {
        "id": "ctypes-signature-drift",
        "promise": "the ctypes binding Blender loads matches the C header",
        "edits": [("python/blendarray/_lib.py",
                   '"ba_ring_slots": (ctypes.c_uint32, [_ptr]),',
                   '"ba_ring_slots": (ctypes.c_int, [_ptr]),')],
        "tests": [["pytest", "tests/python/test_bindings.py"]],
    },
    {
        "id": "ctypes-constant-drift",
        "promise": "the bindings' message limits are the header's",
        "edits": [("python/blendarray/_lib.py", "MSG_MAX = 1 << 20", "MSG_MAX = 1 << 19")],
        "tests": [["pytest", "tests/python/test_bindings.py"]],
    },
]

# -- blendarray installed into Blender as an add-on (blender_addon/, scripts/build-blender-addon.py)
T_ADDON = "tests/python/test_blender_addon.py::test_addon_installs_imports_and_operator_matches_render"
MUTANTS += [
    {
        "id": "addon-operator-drops-display",
        "promise": "the add-on's operator saves every enabled pass and the display image, as ba.render has them",
        "edits": [("blender_addon/__init__.py",
                   "frame = bab.render(passes=None, display=True, scene=scene)",
                   "frame = bab.render(passes=None, display=False, scene=scene)")],
        "tests": [["pytest", T_ADDON + "[blender]"]],
    },
    {
        "id": "addon-package-not-on-sys-path",
        "promise": "an installed add-on alone lets scripts `import blendarray.blender`",
        "edits": [("blender_addon/__init__.py",
                   "    if VENDOR not in sys.path:\n        sys.path.insert(0, VENDOR)\n"
                   "    if _BundledBlendarray not in sys.meta_path:\n"
                   "        sys.meta_path.insert(0, _BundledBlendarray)\n",
                   "    pass\n")],
        "tests": [["pytest", T_ADDON + "[bpy]"]],
    },
]

from mutants_cli import CLI_MUTANTS  # noqa: E402  (the C library, the C worker client, the CLI)

MUTANTS += CLI_MUTANTS

# -- issue 10: a real package -----------------------------------------------------------
MUTANTS += [
    {
        "id": "worker-site-packages-first",
        "promise": "a worker imports only blendarray from its package folder, nothing of its parent",
        "edits": [("python/blendarray/blender/worker_main.py", "sys.meta_path.insert(0, _ThisBlendarray())",
                   "sys.path.insert(0, os.path.dirname(_PACKAGE))")],
        "tests": [["pytest", "tests/python/test_new_user.py", "-k", "imports_only_blendarray"]],
    },
    {
        "id": "lib-version-unchecked",
        "promise": "a ctypes library of another version than the .py files is refused by name",
        "edits": [("python/blendarray/_lib.py", "    if got != _package_version:", "    if False:")],
        "tests": [["pytest", "tests/python/test_new_user.py", "-k", "library_of_another_version"]],
    },
    {
        "id": "core-version-unchecked",
        "promise": "an extension of another version than the .py files is refused by name",
        "edits": [("python/blendarray/_renderer.py", "    if core.version() != __version__:", "    if False:")],
        "tests": [["pytest", "tests/python/test_new_user.py", "-k", "library_of_another_version"]],
    },
    {
        "id": "core-built-for-unnamed",
        "promise": "an extension built for another Python says which",
        "edits": [("python/blendarray/_renderer.py", "        if built and want not in built:", "        if False:")],
        "tests": [["pytest", "tests/python/test_new_user.py", "-k", "missing_extension"]],
    },
    {
        "id": "cli-package-of-any-version",
        "promise": "the CLI takes only a package of its own version (a mixed install is named)",
        "edits": [("cli/locate.c", "    if (strcmp(v, ba_version_string()) == 0) return 1;", "    return 1;")],
        "tests": [["pytest", "tests/cli/test_faults_cli.py", "-k", "without_its_package"]],
    },
    {
        "id": "missing-dev-packages-unnamed",
        "promise": "a build without the libraries' development files names the packages to install",
        "edits": [("meson.build", "    apt_names += apt[name]\n", "    apt_names += name\n")],
        "tests": [["pytest", "tests/python/test_install.py", "-k", "missing_development"]],
    },
]

from mutants_integrations import INTEGRATION_MUTANTS  # noqa: E402  (issue 11: torch, Ray)

MUTANTS += INTEGRATION_MUTANTS

from mutants_labels import LABEL_MUTANTS  # noqa: E402  (issue 12: labels)

MUTANTS += LABEL_MUTANTS

from mutants_display import DISPLAY_MUTANTS  # noqa: E402  (issue 13: the display image)

MUTANTS += DISPLAY_MUTANTS

from mutants_tiers import TIER_MUTANTS  # noqa: E402  (issue 20: the test cache and tiers)

MUTANTS += TIER_MUTANTS

from mutants_settings import SETTINGS_MUTANTS  # noqa: E402  (issue 22: one settings object)

MUTANTS += SETTINGS_MUTANTS

from mutants_shards import SHARD_MUTANTS  # noqa: E402  (issue 23: sharded datasets, resume)

MUTANTS += SHARD_MUTANTS

from mutants_recycle import RECYCLE_MUTANTS  # noqa: E402  (issue 23: worker recycling)

MUTANTS += RECYCLE_MUTANTS

from mutants_ci import CI_MUTANTS  # noqa: E402  (issue 23: the full tier's caches)

MUTANTS += CI_MUTANTS

from mutants_pipeline import PIPELINE_MUTANTS  # noqa: E402  (issue 24: pipelining, meta splice)

MUTANTS += PIPELINE_MUTANTS

from mutants_gym import GYM_MUTANTS  # noqa: E402  (issue 25: Blender as a Gymnasium environment)

MUTANTS += GYM_MUTANTS
