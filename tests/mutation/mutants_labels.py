"""Deliberate bugs in the labels (issue 12: the C kernels, the in-Blender
annotations, flow, the COCO export, PNG writing): each must make its tests
fail. Same format as mutants.py."""

T_KERNEL = "tests/python/test_labels_kernel.py"
T_LABELS = "tests/python/test_labels.py"
T_COCO = "tests/cli/test_coco_cli.py"
LABELS_C = "src/labels.c"
LABELS_PY = "python/blendarray/blender/labels.py"
COCO_C = "src/coco.c"
C_COCO = ["sh", "-c", "ninja -C build/dev tests/c/test_coco >/dev/null && build/dev/tests/c/test_coco"]
C_LABELS = ["sh", "-c", "ninja -C build/dev tests/c/test_labels >/dev/null && "
                        "build/dev/tests/c/test_labels"]

LABEL_MUTANTS = [
    {
        "id": "labels-camera-scale-kept",
        "promise": "a scaled camera's matrices and keypoints are rigid, its scale left out as the renderers leave it",
        "edits": [("python/blendarray/blender/meta.py", "mw = cam.matrix_world.normalized()",
                   "mw = cam.matrix_world")],
        "tests": [["pytest", "tests/python/test_props_camera.py", "-k", "extrinsics"]],
    },
    {
        "id": "labels-box-of-a-wrapping-run",
        "promise": "a box spans every row a run crosses when it wraps into the next column",
        "edits": [(LABELS_C, "        sy = 0;\n        ey = (uint32_t)f->h - 1;",
                   "        ey = (uint32_t)f->h - 1;")],
        "tests": [["pytest", T_KERNEL, "-k", "equal_pycocotools"]],
    },
    {
        "id": "labels-rle-no-trailing-background",
        "promise": "RLE counts end with the background run after the mask, as pycocotools'",
        "edits": [(LABELS_C, "if (f->v[i].last_end < h * w) rc = push(",
                   "if (0 && f->v[i].last_end < h * w) rc = push(")],
        "tests": [["pytest", T_KERNEL, "-k", "equal_pycocotools"]],
    },
    {
        "id": "labels-rle-string-delta-off",
        "promise": "the RLE string is pycocotools' (counts after the 3rd are deltas)",
        "edits": [(LABELS_C, "if (i > 2) x -= counts[i - 2];", "if (i > 3) x -= counts[i - 2];")],
        "tests": [["pytest", T_KERNEL, "-k", "equal_pycocotools"]],
    },
    {
        "id": "labels-f32-fraction-accepted",
        "promise": "a float id that is not an integer is an error, not a truncated id",
        "edits": [(LABELS_C, "return (float)*id == v ? BA_OK : BA_ERANGE;", "return BA_OK;")],
        "tests": [C_LABELS],
    },
    {
        "id": "labels-cryptomatte-exponent-unclamped",
        "promise": "a Cryptomatte id is never an infinity or NaN (exponent kept below 255)",
        "edits": [(LABELS_C, "    if (exponent > 254) exponent = 254;\n", "")],
        "tests": [C_LABELS],
    },
    {
        "id": "labels-flow-y-not-flipped",
        "promise": "forward flow's y points down (Blender's vector pass points up)",
        "edits": [(LABELS_C, "forward[2 * i + 1] = v[3];", "forward[2 * i + 1] = -v[3];")],
        "tests": [["pytest", T_LABELS, "-k", "known_number_of_pixels and blender-CYCLES"]],
    },
    {
        "id": "labels-category-not-from-pass-index",
        "promise": "an object without category_id takes its pass_index as category",
        "edits": [(LABELS_PY, "    elif ob.pass_index:\n        cid = ob.pass_index\n",
                   "    elif False:\n        cid = ob.pass_index\n")],
        "tests": [["pytest", T_LABELS, "-k", "known_boxes and blender-CYCLES"]],
    },
    {
        "id": "labels-opencv-frame-is-blenders",
        "promise": "object_to_camera_cv and the corners are in OpenCV's camera frame",
        "edits": [(LABELS_PY, "BLENDER_TO_CV = np.diag([1.0, -1.0, -1.0, 1.0])",
                   "BLENDER_TO_CV = np.diag([1.0, 1.0, 1.0, 1.0])")],
        "tests": [["pytest", T_LABELS, "-k", "poses and blender"]],
    },
    {
        "id": "labels-keypoints-ortho-as-perspective",
        "promise": "corners project as Blender's world_to_camera_view does, orthographic too",
        "edits": [(LABELS_PY, "            u, v = fx * x + cx, fy * y + cy",
                   "            u, v = fx * x / z + cx, fy * y / z + cy")],
        "tests": [["pytest", T_LABELS, "-k", "world_to_camera_view and labels and blender"]],
    },
    {
        "id": "labels-colliding-names-unnoticed",
        "promise": "objects whose Cryptomatte ids collide are an error, not one mixed instance",
        "edits": [(LABELS_PY, "if other is not None and other != ob:", "if False:")],
        "tests": [["pytest", T_LABELS, "-k", "cannot_be_told_apart and blender"]],
    },
    {
        "id": "worker-annotations-dropped",
        "promise": "Renderer(annotations=True) reaches the workers",
        "edits": [("python/blendarray/blender/worker.py",
                   "self.annotations = st.annotations", "self.annotations = False")],
        "tests": [["pytest", T_LABELS, "-k", "carry_their_own_labels and blender"]],
    },
    {
        "id": "coco-uncategorised-exported",
        "promise": "--coco leaves instances without a category out (COCO needs one)",
        "edits": [(COCO_C, "        if (json_is_null(cat)) {\n            w->count[BA_COCO_SKIPPED]++;\n            continue;",
                   "        if (0) {\n            w->count[BA_COCO_SKIPPED]++;\n            continue;")],
        "tests": [["pytest", T_COCO, "-k", "known_answer"]],
    },
    {
        "id": "coco-image-id-is-the-frame-number",
        "promise": "a COCO annotation's image_id is its image's id (the frame's index)",
        "edits": [(COCO_C, '"image_id", (json_int_t)id,',
                   '"image_id", json_integer_value(json_object_get(meta, "frame")),')],
        "tests": [["pytest", T_COCO, "-k", "known_answer"]],
    },
    {
        "id": "torch-annotations-dropped",
        "promise": "RenderDataset(annotations=True) puts the labels in item['meta']",
        "edits": [("python/blendarray/torch.py", "self._render_kw = dict(settings=settings,",
                   "self._render_kw = dict(settings=type(settings).of(settings, annotations=False),")],
        "tests": [["pytest", "tests/python/test_torch.py", "-k", "annotations"]],
    },
    {
        "id": "capture-derives-nothing",
        "promise": "bab.capture() makes display, flow and annotations as bab.render() does",
        "edits": [("python/blendarray/blender/__init__.py",
                   "    specs, derived = _derive(scene, layers, specs, out, alloc, display, flows, annotations,\n                             private)\n    meta = frame_meta(scene, layers)\n    meta.update(route=\"exr\"",
                   "    specs, derived = _derive(scene, layers, specs, out, alloc, display, [], False,\n                             private)\n    meta = frame_meta(scene, layers)\n    meta.update(route=\"exr\"")],
        "tests": [["pytest", "tests/python/test_inblender.py"]],
    },
    {
        "id": "capture-error-without-hint",
        "promise": "capture(annotations=True) of a render without the Cryptomatte pass says what to enable",
        "edits": [("python/blendarray/blender/__init__.py", '"use_pass_cryptomatte_object, use_pass_vector) before rendering, or "',
                   '"use_pass_vector) before rendering, or "')],
        "tests": [["pytest", "tests/python/test_inblender.py"]],
    },
    {
        "id": "coverage-second-rank-dropped",
        "promise": "coverage sums both ranks of a Cryptomatte pass, as Blender's matte does",
        "edits": [("src/labels.c", "        if (b == id) out[i] += p[3];\n", "")],
        "tests": [C_LABELS, ["pytest", T_LABELS, "-k", "own_cryptomatte and blender"]],
    },
    {
        "id": "coverage-first-level-only",
        "promise": "coverage sums every Cryptomatte pass of the kind in the frame (_00, _01, ...)",
        "edits": [("python/blendarray/labels.py", "    for k in keys:\n", "    for k in keys[:1]:\n")],
        "tests": [["pytest", T_LABELS, "-k", "own_cryptomatte and blender"]],
    },
    {
        "id": "masks-all-in-the-first",
        "promise": "blendarray.labels.masks gives each instance its own mask, in order",
        "edits": [("python/blendarray/labels.py", '        _decode(seg, out[i])', '        _decode(seg, out[0])')],
        "tests": [["pytest", T_LABELS, "-k", "pycocotools_decode and blender"]],
    },
    {
        "id": "coverage-binding-takes-any-dtype",
        "promise": "the coverage kernel's binding refuses buffers that are not float32",
        "edits": [("python/blendarray/_core_labels.c", "    if (!is_f32(&out) || !is_f32(&pass)) {",
                   "    if (!is_f32(&out) && !is_f32(&pass)) {")],
        "tests": [["pytest", T_KERNEL, "-k", "coverage_bad_input"]],
    },
    {
        "id": "coco-rle-unchecked",
        "promise": "--coco checks each worker mask's RLE: COCO, the image's size, the area's pixels",
        "edits": [(COCO_C, "    uint64_t pixels, ones;\n    if (ba_rle_measure(",
                   "    uint64_t pixels, ones;\n    return NULL;\n    if (ba_rle_measure(")],
        "tests": [["pytest", T_COCO, "-k", "malformed_labels"]],
    },
    {
        "id": "coco-replaces-without-overwrite",
        "promise": "a COCO dataset never replaces a folder that got files while it was written, unless asked",
        "edits": [(COCO_C, "(errno == ENOTEMPTY || errno == EEXIST) && w->overwrite)",
                   "(errno == ENOTEMPTY || errno == EEXIST))")],
        "tests": [C_COCO],
    },
    {
        "id": "coco-records-kept-in-memory",
        "promise": "the COCO writer's memory stays flat in the number of frames",
        "edits": [(COCO_C, "    json_decref(meta);\n    return err;\n}",
                   "    if (!err) (void)json_incref(meta); /* kept, as a writer that holds every record */\n"
                   "    json_decref(meta);\n    return err;\n}")],
        "tests": [C_COCO],
    },
    {
        "id": "coco-writer-finishes-on-exception",
        "promise": "CocoWriter's with block leaves nothing when it raised",
        "edits": [("python/blendarray/labels.py", "            if exc_type is None:\n                self.finish()",
                   "            if True:\n                self.finish()")],
        "tests": [["pytest", "tests/python/test_coco.py", "-k", "exception_in_the_with"]],
    },
    {
        "id": "rle-decode-string-paints-before-checking",
        "promise": "a mask decoded from a bad RLE string is left untouched",
        "edits": [("src/labels.c", "    rc = ba_rle_measure(s, len, &total, NULL);\n    if (rc) return rc;\n    if (total != pixels) return BA_EFORMAT;\n",
                   "    (void)total;\n")],
        "tests": [C_COCO],
    },
    {
        "id": "png-save-drops-a-channel",
        "promise": "ba_png_save writes every channel it is given",
        "edits": [("src/pngwrite.c", "PNG_COLOR_TYPE_RGB_ALPHA", "PNG_COLOR_TYPE_RGB")],
        "tests": [["sh", "-c", "ninja -C build/dev tests/c/test_png >/dev/null && "
                               "build/dev/tests/c/test_png"]],
    },
]
