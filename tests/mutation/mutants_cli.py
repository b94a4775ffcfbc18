"""Deliberate bugs in the C library, the worker client (src/renderer.c, worker.c, reply.c), the CLI
and the fuzz targets' checks: each must make its tests fail. Same format as
mutants.py (id, promise, edits: (path, text that occurs once, replacement),
tests: ["pytest", args...] or a command run in the mutated copy); a mutant must
build under -Werror. Each selection runs in seconds (a mutant that hangs the CLI
is stopped by the test's own wait, at most 30 s)."""

T_FAULTS = "tests/cli/test_faults_cli.py"
T_CLI = "tests/cli/test_render_cli.py"


# test_renderer (the C API against the fake worker), as meson test runs it
C_RENDERER = ["sh", "-c", "ninja -C build/dev tests/c/test_renderer >/dev/null && "
                          "BLENDARRAY_REPO=$PWD ROGUE_PYTHONPATH=$PWD/build/dev/python "
                          "BLENDARRAY_LIB=$PWD/build/dev/python/blendarray/libblendarray.so "
                          "build/dev/tests/c/test_renderer"]


def _replay(target):
    """Build the target's replay program (plain gcc; the checks abort by themselves)
    and replay its corpus."""
    return ["sh", "-c", f"ninja -C build/dev fuzz/{target}-replay >/dev/null && "
                        f"build/dev/fuzz/{target}-replay fuzz/corpus/{target}"]


T_SHARDS = "tests/cli/test_shards_cli.py"

CLI_MUTANTS = [
    # -- --shards --resume (issue 23) ----------------------------------------------------
    {
        "id": "cli-resume-renders-done-indices",
        "promise": "--resume renders only the indices no complete shard holds",
        "edits": [("cli/render_shards.c", "n += !ba_shards_done(s->w, (int64_t)i);", "n += 1;"),
                  ("cli/render_shards.c", "        if (ba_shards_done(s->w, (int64_t)i)) continue;\n",
                   "")],
        "tests": [["pytest", T_SHARDS, "-k", "killed_twice"]],
    },
    {
        "id": "cli-resume-skips-an-index",
        "promise": "--resume renders every index no complete shard holds, each once, with its "
                   "own index",
        "edits": [("cli/render_shards.c", "todo->indices[k] = (int64_t)i;",
                   "todo->indices[k] = (int64_t)i + (k == 0 && i > 0);")],
        "tests": [["pytest", T_SHARDS, "-k", "killed_twice"]],
    },
    {
        "id": "cli-shards-plan-not-in-params",
        "promise": "a resume whose plan differs (another --dtype, -n, frames) is refused",
        "edits": [("cli/render_shards.c", '"dtype", a->f16 ? "float16" : "float32");',
                   '"dtype", a->f16 && 0 ? "float16" : "float32");')],
        "tests": [["pytest", T_SHARDS, "-k", "resume_refuses"]],
    },
    # -- the C client's fault paths ---------------------------------------------------
    {
        "id": "cli-retries-off-by-one",
        "promise": "retries=N (--retries N): a frame is attempted exactly N + 1 times",
        "edits": [("src/renderer.c", "if (err == BA_OK && i == 0 && ++jb->t->attempts > (unsigned)r->o.retries) {",
                   "if (err == BA_OK && i == 0 && ++jb->t->attempts >= (unsigned)r->o.retries) {")],
        "tests": [["pytest", T_FAULTS, "-k", "retries_bound_the_attempts"]],
    },
    {
        "id": "cli-retry-wrong-frame",
        "promise": "the CLI asks for each index's own frame number",
        "edits": [("src/renderer.c", '"{\\"frame\\":%lld}", (long long)frames[submitted]',
                   '"{\\"frame\\":%lld}", (long long)frames[submitted ? submitted - 1 : 0]')],
        "tests": [["pytest", T_FAULTS, "-k", "killed_worker_frames_are_rendered_again"]],
    },
    {
        "id": "cli-ring-size-ignored",
        "promise": "ring=N (--ring N): memory is bounded by N slots of one frame per worker",
        "edits": [("src/renderer.c", "    int slots = r->o.ring;\n", "    int slots = 4;\n")],
        "tests": [["pytest", T_FAULTS, "-k", "ring_size_bounds"]],
    },
    {
        "id": "cli-slot-never-released",
        "promise": "a released frame's ring slot goes back to its worker",
        "edits": [("src/renderer.c", "        else if (w->slot_free) w->slot_free[r->freed[i].slot] = 1;",
                   "        else (void)w;")],
        "tests": [["pytest", "tests/python/test_renderer_ext.py", "-k", "go_back_when_dropped"]],
    },
    {
        "id": "cli-bpy-python-ignored",
        "promise": "--blender bpy --python PATH runs the worker in that Python",
        "edits": [("src/renderer.c", 'r->python = strdup(opts->python ? opts->python : "python3");',
                   'r->python = strdup("python3");')],
        "tests": [["pytest", T_FAULTS, "-k", "bpy_flavour"]],
    },
    # -- Ctrl-C and failures: what is left on disk, and what the CLI says -------------
    {
        "id": "cli-stack-not-aborted",
        "promise": "Ctrl-C with --stack removes the incomplete stacks",
        "edits": [("cli/render_outputs.c", "        ba_npy_stack_abort(o->passes[i].stack);",
                   "        (void)ba_npy_stack_finish(o->passes[i].stack);")],
        "tests": [["pytest", T_FAULTS, "-k", "ctrl_c_in_stack_mode"]],
    },
    {
        "id": "cli-folder-message-lies",
        "promise": "Ctrl-C in folder mode says how many complete frames it kept",
        "edits": [("cli/render_outputs.c",
                   'cli_fail("interrupted: workers stopped; kept %zu complete frame%s in %s/; "\n'
                   '                     "nothing partial left", o->done, s, o->target);',
                   'cli_fail("interrupted: workers stopped, partial output removed");')],
        "tests": [["pytest", T_FAULTS, "-k", "ctrl_c_in_folder_mode"]],
    },
    {
        "id": "cli-partial-frame-kept",
        "promise": "a folder output holds whole frames only, even when the disk fills mid-frame",
        "edits": [("cli/render_outputs.c", "    end_frame_files(o, 0);\n", "")],
        "tests": [["pytest", T_FAULTS, "-k", "disk_full_mid_frame"]],
    },
    # -- temporary folders of killed consumers -----------------------------------------
    {
        "id": "cli-sweep-live-folders",
        "promise": "the sweep leaves a live consumer's temporary folder alone",
        "edits": [("src/worker.c", "kill((pid_t)pid, 0) == 0 || errno != ESRCH", "0")],
        "tests": [["pytest", T_FAULTS, "-k", "stale_temp_folders"]],
    },
    # -- display, decoded by the C library's PNG reader --------------------------------
    {
        "id": "display-bgr",
        "promise": "Blender's own display route (its PNG, decoded) is pixel for pixel its image",
        "edits": [("src/png.c", "    png_set_expand(png);\n",
                   "    png_set_expand(png);\n    png_set_bgr(png);\n")],
        "tests": [["pytest", "tests/python/test_render.py", "-k",
                   "own_display_route and blender-WORKBENCH"]],
    },
    # -- decoders: row padding, values, malformed chunks (fuzz targets' checks) ---------
    {
        "id": "png-writes-row-padding",
        "promise": "PNG decoding writes each row's pixels, never the padding between rows",
        "edits": [("src/png.c", "    for (int p = 0; p < passes; ++p)\n",
                   "    memset(dst, 0, need);\n    for (int p = 0; p < passes; ++p)\n")],
        "tests": [_replay("png_fuzzer")],
    },
    {
        "id": "exr-writes-row-padding",
        "promise": "EXR decoding writes each row's pixels, never the padding between rows",
        "edits": [("src/exr.c", "    if (tg->dst_size < need) {",
                   "    if (tg->dst_size >= need) memset(tg->dst, 0, need);\n"
                   "    if (tg->dst_size < need) {")],
        "tests": [_replay("exr_fuzzer")],
    },
    {
        "id": "exr-dup-skips-first-pixel",
        "promise": "a channel requested twice (read_many) gets every value",
        "edits": [("src/exr.c", "for (int32_t x = 0; x < width; ++x) dst[(size_t)x * to_inc]",
                   "for (int32_t x = 1; x < width; ++x) dst[(size_t)x * to_inc]")],
        "tests": [_replay("exr_fuzzer")],
    },
    {
        "id": "exr-short-chunk-accepted",
        "promise": "a short uncompressed EXR chunk is an error, not pixels from freed memory",
        "edits": [("src/exr.c",
                   "if (cinfo.compression == EXR_COMPRESSION_NONE && cinfo.packed_size != cinfo.unpacked_size) {",
                   "if (0) {")],
        "tests": [["sh", "-c", "ninja -C build/dev tests/c/test_exr >/dev/null && build/dev/tests/c/test_exr"]],
    },
    {
        "id": "npz-deflate-size-trusted",
        "promise": "a deflated .npz member whose stated size its bytes cannot hold is refused unread",
        "edits": [("src/npz.c", "sb.size > sb.comp_size * 1032 + 1024)",
                   "sb.size > sb.comp_size * 1032 + 1024 + UINT32_MAX)")],
        "tests": [["sh", "-c", "ninja -C build/dev tests/c/test_npz >/dev/null && build/dev/tests/c/test_npz"]],
    },
    {
        "id": "npz-bytes-unterminated",
        "promise": "ba_npz_read_bytes ends the member's bytes with a NUL (meta.json used as a string)",
        "edits": [("src/npz.c", "    buf[n] = '\\0';", "    buf[n] = 'x';")],
        "tests": [["sh", "-c", "ninja -C build/dev tests/c/test_npz >/dev/null && build/dev/tests/c/test_npz"]],
    },
    # -- issue 9: one consumer of the worker protocol, in C ------------------------------
    {
        "id": "cli-params-ignored",
        "promise": "--params: each line's frame, settings and own keys reach its frame",
        "edits": [("src/renderer.c", "            const char *p = params ? params[submitted] : NULL;",
                   "            const char *p = params && 0 ? params[submitted] : NULL;")],
        "tests": [["pytest", T_CLI, "-k", "per_frame_params"]],
    },
    {
        "id": "python-frame-never-released",
        "promise": "a Python frame's slot goes back when its last array is gone",
        "edits": [("python/blendarray/_core_renderer.c",
                   "    ba_renderer_release(self->r, self->frame);\n    Py_TYPE(self)->tp_free",
                   "    Py_TYPE(self)->tp_free")],
        "tests": [["pytest", "tests/python/test_renderer.py", "-k", "back_pressure and blender"]],
    },
    {
        "id": "python-wait-holds-the-gil",
        "promise": "the GIL is released while C waits for a frame",
        "edits": [("python/blendarray/_core_renderer.c",
                   "        Py_BEGIN_ALLOW_THREADS\n        err = ba_renderer_next(",
                   "        err = ba_renderer_next("),
                  ("python/blendarray/_core_renderer.c",
                   "BA_NEXT_ANY, -1, &f);\n        Py_END_ALLOW_THREADS\n", "BA_NEXT_ANY, -1, &f);\n")],
        "tests": [["pytest", "tests/python/test_renderer_ext.py", "-k", "gil"]],
    },
    {
        "id": "python-signal-aborts-start",
        "promise": "a signal whose handler does not raise does not stop a Renderer from starting",
        "edits": [("python/blendarray/_core_renderer.c",
                   "    while (err == BA_EINTR && r != NULL && PyErr_CheckSignals() == 0) {",
                   "    while (0 && err == BA_EINTR && r != NULL && PyErr_CheckSignals() == 0) {")],
        "tests": [["pytest", "tests/python/test_renderer_ext.py", "-k", "signals_without"]],
    },
    {
        "id": "cli-python-default-ignored",
        "promise": "installed, with no blender on PATH, the CLI renders with bpy in the python3 beside it",
        "edits": [("cli/render_open.c", "if (!py) py = cli_default_python(python, sizeof python);",
                   "if (!py) (void)python;")],
        "tests": [["pytest", T_FAULTS, "-k", "installed_cli_finds"]],
    },
    {
        "id": "start-count-lost-on-eintr",
        "promise": "a worker that cannot start fails within retries, also while signals interrupt the wait",
        "edits": [("src/renderer.c", "        if (err == BA_EINTR) return err; /* resumed later, still counting */",
                   "        if (err == BA_EINTR) {\n            w->start_failures = 0;\n            return err;\n        }")],
        "tests": [["pytest", "tests/python/test_renderer_ext.py", "-k", "cannot_start"]],
    },
    {
        "id": "restart-not-retried",
        "promise": "a worker killed while it starts is started again (within --retries)",
        "edits": [("src/renderer.c", "        if (err != BA_EWORKER || w->start_failures >= r->o.retries) {",
                   "        if (err != BA_EWORKER || w->start_failures >= 0) {")],
        "tests": [["pytest", T_FAULTS, "-k", "killed_while_starting"]],
    },
    {
        "id": "died-before-init-not-retried",
        "promise": "a worker gone before it took its init is started again (within --retries)",
        "edits": [("src/renderer.c", "        if (died && r->o.retries > 0) {",
                   "        if (died && r->o.retries > 0 && 0) {")],
        "tests": [["pytest", T_FAULTS, "-k", "before-its-init"]],
    },
    # -- the C API's options: opaque, copied at open; a failed open says why ----------
    {
        "id": "failed-open-says-nothing",
        "promise": "a renderer that cannot start leaves *out NULL and says why in its options",
        "edits": [("src/renderer.c", "    opts->e.json = r->e.json;\n    r->e.json = NULL;\n", "")],
        "tests": [C_RENDERER],
    },
    {
        "id": "refused-option-changes-it",
        "promise": "an option set out of its bounds is refused and keeps its value",
        "edits": [("src/renderer.c", "    if (value < io->min || value > io->max)",
                   "    if (value < io->min || (value > io->max && option != BA_OPT_WORKERS))")],
        "tests": [C_RENDERER],
    },
    {
        "id": "cancel-never-waits",
        "promise": "leaving frames() early waits out the frames in flight, the workers stay warm",
        "edits": [("src/renderer.c", "        if (!wait || !any_inflight(r)) break;",
                   "        if (!wait || !any_inflight(r) || 1) break;")],
        "tests": [["pytest", "tests/python/test_renderer_ext.py", "-k", "stopping_early"]],
    },
    # -- the command's options: one table, the Python API's settings ------------------
    {
        "id": "cli-depth-background-lost",
        "promise": "--depth-background reaches the worker as depth_background= does",
        "edits": [("cli/render_args.c", "snprintf(text, sizeof text, \"%.17g\", x);",
                   "snprintf(text, sizeof text, \"%.17g\", 1e10);")],
        "tests": [["pytest", "tests/cli/test_cli_settings.py", "-k", "settings_the_cli_lacked"]],
    },
    {
        "id": "cli-display-blender-ignored",
        "promise": "--display blender asks for Blender's own display route",
        "edits": [("cli/render_args.c", "v ? json_string(v) : json_true()", "json_true()")],
        "tests": [["pytest", "tests/cli/test_cli_settings.py", "-k", "settings_the_cli_lacked"]],
    },
    {
        "id": "cli-progress-without-index",
        "promise": "-n N progress lines tell the renders of one scene frame apart",
        "edits": [("cli/render_outputs.c", "    } else if (o->by_index) {", "    } else if (0) {")],
        "tests": [["pytest", "tests/cli/test_cli_settings.py", "-k", "progress_lines"]],
    },
    {
        "id": "cli-folder-double-slash",
        "promise": "-o frames/ names its files frames/x.npy, not frames//x.npy",
        "edits": [("cli/render_outputs.c", "    while (n > 1 && name[n - 1] == '/') n--;\n", "")],
        "tests": [["pytest", "tests/cli/test_cli_settings.py", "-k", "one_slash"]],
    },
    {
        "id": "cli-option-typo-unhelped",
        "promise": "a misspelt long option gets a suggestion",
        "edits": [("cli/render_args.c", "return best && d > 0 && d <= (strlen(word) + 2) / 3 ? best : NULL;",
                   "return best && 0 ? best : NULL;")],
        "tests": [["pytest", "tests/cli/test_cli_settings.py", "-k", "usage_errors"]],
    },
]
