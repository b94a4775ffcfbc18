"""Deliberate bugs in the pipelining of issue 24 (src/renderer.c: frames queued
ahead, the ring sized by frame size, a worker's spare frame; src/reply.c: the
frame's meta copied from the reply's text; the worker's cached slot views).
Same format as mutants.py."""
from mutants_cli import C_RENDERER

T_EXT = "tests/python/test_renderer_ext.py"
T_RR = "tests/python/test_renderer.py"
T_RECYCLE = "tests/python/test_recycle.py"
C_REPLY = ["sh", "-c", "ninja -C build/dev tests/c/test_reply >/dev/null && "
                       "build/dev/tests/c/test_reply"]
RENDERER = "src/renderer.c"
REPLY = "src/reply.c"

PIPELINE_MUTANTS = [
    {
        "id": "spare-never-used",
        "promise": "a worker whose slots are all held renders one frame into its own memory: "
                   "a loop that keeps only its frame runs with ring=1",
        "edits": [(RENDERER, "    if (w->spare_held) return 0;\n    for (int i = 0; i < w->ninflight; i++)",
                   "    return 0;\n    for (int i = 0; i < w->ninflight; i++)")],
        "tests": [["pytest", T_EXT, "-k", "keeps_only_its_frame"]],
    },
    {
        "id": "spare-never-given-back",
        "promise": "a spare frame released frees the spare for the next one",
        "edits": [(RENDERER, "        if (r->freed[i].slot < 0) w->spare_held = 0;\n        else if",
                   "        if (r->freed[i].slot < 0) continue;\n        else if")],
        "tests": [["pytest", T_EXT, "-k", "keeps_only_its_frame"]],
    },
    {
        "id": "spare-unbounded",
        "promise": "one spare frame per worker: a consumer that keeps every frame gets R + 1 "
                   "frames of a worker, then the ring-full error",
        "edits": [(RENDERER, "    if (w->spare_held) return 0;\n    for (int i = 0; i < w->ninflight; i++)",
                   "    for (int i = 0; i < w->ninflight; i++)")],
        "tests": [["pytest", T_EXT, "-k", "default_ring_is_sized"]],
    },
    {
        "id": "spare-kept-after-cancel",
        "promise": "a spare frame a cancel drops before it is handed out is its worker's again",
        "edits": [(RENDERER, "            if (h->spare) r->w[h->frame.worker].spare_held = 0;\n", "")],
        "tests": [C_RENDERER],
    },
    {
        "id": "ring-auto-most-32",
        "promise": "the default ring holds 16 slots at most",
        "edits": [("src/renderer.h", "#define BA_RING_AUTO_MAX 16 ", "#define BA_RING_AUTO_MAX 32 ")],
        "tests": [["pytest", T_EXT, "-k", "default_ring_is_sized"]],
    },
    {
        "id": "ring-auto-rounds-up",
        "promise": "the default ring is as many slots as fit in 64 MiB, not one more",
        "edits": [(RENDERER, "size_t fit = BA_RING_AUTO_BYTES / size;",
                   "size_t fit = (BA_RING_AUTO_BYTES + size - 1) / size;")],
        "tests": [["pytest", T_EXT, "-k", "default_ring_is_sized"]],
    },
    {
        "id": "fresh-worker-queue-unbounded",
        "promise": "a fresh worker gets its frame and one queued until it has answered once "
                   "(its memory is unknown before)",
        "edits": [(RENDERER, "int most = w->answered >= 3 || r->memory_limit <= 0 || w->memory_exempt ? BA_MAX_INFLIGHT : 2;",
                   "int most = r ? BA_MAX_INFLIGHT : 2;")],
        "tests": [["pytest", T_RECYCLE, "-k", "over_the_limit_after and bpy"]],
    },
    {
        "id": "leaking-worker-sent-four-blind",
        "promise": "under a memory limit a worker gets 2 frames at a time until its growth a "
                   "frame is known, so a leak is retired before the limit",
        "edits": [(RENDERER, "int most = w->answered >= 3 || r->memory_limit",
                   "int most = w->answered >= 1 || r->memory_limit")],
        "tests": [["pytest", T_EXT, "-k", "leaking_worker"]],
    },
    {
        "id": "meta-splice-no-comma",
        "promise": "the frame's meta_json is the worker's meta with index and worker added, "
                   "valid JSON",
        "edits": [(REPLY, '"%s\\"index\\":%lld,\\"worker\\":%d}", empty ? "" : ","',
                   '"%s\\"index\\":%lld,\\"worker\\":%d}", ""')],
        "tests": [C_REPLY],
    },
    {
        "id": "meta-splice-first-of-repeated",
        "promise": "of a repeated \"meta\" member, the last, as jansson keeps it",
        "edits": [(REPLY, "        if (same) {\n            *at = v;",
                   "        if (same && !found) {\n            *at = v;")],
        "tests": [C_REPLY],
    },
    {
        "id": "meta-splice-keeps-workers-index",
        "promise": "the consumer's index and worker replace a worker's own",
        "edits": [(REPLY, '        if (text && json_is_object(given) && !json_object_get(given, "index") &&',
                   '        if (text && json_is_object(given) &&')],
        "tests": [C_REPLY],
    },
    {
        "id": "worker-views-ignore-shape",
        "promise": "a worker's cached views of a slot are its frame's shapes (a per-frame "
                   "resolution change gets its own)",
        "edits": [("python/blendarray/blender/worker.py",
                   "tuple((s.name, s.dtype, tuple(s.shape)) for s in specs)",
                   "tuple((s.name, s.dtype) for s in specs)")],
        "tests": [["pytest", T_RR, "-k", "one_by_one and bpy"]],
    },
    {
        "id": "frames-meta-from-dump-only",
        "promise": "a frame's meta is its worker's, whichever way the consumer copies it",
        "edits": [(REPLY, "            h->frame.meta_json = splice_meta(text + at, n, json_object_size(given) == 0,",
                   "            h->frame.meta_json = splice_meta(text + at, n, 1,")],
        "tests": [C_REPLY, ["pytest", T_RR, "-k", "one_by_one and bpy"]],
    },
]
