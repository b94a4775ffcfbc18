"""Deliberate bugs in worker recycling and the fresh worker's first render (issue 23:
src/renderer.c, python/blendarray/blender/worker.py). Same format as mutants.py."""
from mutants_cli import C_RENDERER

T_RECYCLE = "tests/python/test_recycle.py"

RECYCLE_MUTANTS = [
    {
        "id": "recycle-drops-inflight-frame",
        "promise": "a worker due for replacement is stopped only once the frames sent to it are in",
        "edits": [("src/renderer.c", "    if (w->retiring && w->ninflight == 0) recycle(r, w);\n}",
                   "    if (w->retiring) recycle(r, w);\n}")],
        "tests": [C_RENDERER, ["pytest", T_RECYCLE, "-k", "over_the_limit_after and blender"]],
    },
    {
        "id": "recycle-frame-count-off-by-one",
        "promise": "max_worker_frames=N replaces a worker after exactly N frames",
        "edits": [("src/renderer.c", "++w->given >= r->o.max_frames", "++w->given > r->o.max_frames")],
        "tests": [C_RENDERER],
    },
    {
        "id": "recycle-frames-never-counted",
        "promise": "max_worker_frames replaces workers at all",
        "edits": [("src/renderer.c",
                   "    if (r->o.max_frames > 0 && ++w->given >= r->o.max_frames) w->retiring = 1;\n",
                   "")],
        "tests": [["pytest", T_RECYCLE, "-k", "never_recycled and bpy"]],
    },
    {
        "id": "recycle-memory-never-read",
        "promise": "the memory a worker reports after each frame is held against max_worker_memory",
        "edits": [("src/renderer.c",
                   "        int64_t memory = json_is_integer(mem) && json_integer_value(mem) >= 0\n",
                   "        int64_t memory = 0 && json_is_integer(mem) && json_integer_value(mem) >= 0\n")],
        "tests": [["pytest", T_RECYCLE, "-k", "over_the_limit_after and bpy"]],
    },
    {
        "id": "recycle-memory-after-the-fact",
        "promise": "a steady leak is stopped before it passes the limit (growth projected), not after",
        "edits": [("src/renderer.c", "(growth > 0 && growth > (limit - memory) / BA_MAX_INFLIGHT)",
                   "(growth > 0 && 0)")],
        "tests": [["pytest", T_RECYCLE, "-k", "leaking"]],
    },
    {
        "id": "worker-first-render-differs",
        "promise": "a fresh worker's first frame equals a warm one's (GPU subdivision off)",
        "edits": [("python/blendarray/blender/worker.py", "        same_first_render()\n", "")],
        "tests": [["pytest", T_RECYCLE, "-k", "never_recycled and blender"]],
    },
]
