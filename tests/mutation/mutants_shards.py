"""Deliberate bugs in the shard writer (issue 23: src/shards.c, its tar, its
index and resume; blendarray.shards): each must make its tests fail. Same
format as mutants.py."""

SHARDS_C = "src/shards.c"
SHARDS_PY = "python/blendarray/shards.py"
T_SHARDS = "tests/python/test_shards.py"
C_SHARDS = ["sh", "-c", "ninja -C build/dev tests/c/test_shards >/dev/null && "
                        "build/dev/tests/c/test_shards"]
FUZZ_SHARDS = ["sh", "-c", "ninja -C build/dev fuzz/shards_fuzzer-replay >/dev/null && "
                           "build/dev/fuzz/shards_fuzzer-replay fuzz/corpus/shards_fuzzer"]

SHARD_MUTANTS = [
    {
        "id": "shards-partial-counted-complete",
        "promise": "a half-written shard is never complete: a writer that stops leaves only complete shards",
        "edits": [(SHARDS_C, "    if (!w) return;\n    drop_shard(w);\n",
                   "    if (!w) return;\n"
                   "    if (w->state == ST_OPEN && w->count[BA_SHARDS_PENDING]) commit_shard(w);\n"
                   "    drop_shard(w);\n")],
        "tests": [C_SHARDS, ["pytest", T_SHARDS, "-k", "interrupted_writer"]],
    },
    {
        "id": "shards-uncommitted-shard-kept",
        "promise": "a shard file the index does not list (renamed, line never written) is not complete: a resume removes it and renders its samples",
        "edits": [(SHARDS_C, "        int drop = k >= 0 && (uint64_t)k >= complete;",
                   "        int drop = k >= 0 && (uint64_t)k >= complete && 0;")],
        "tests": [C_SHARDS],
    },
    {
        "id": "shards-torn-index-line-kept",
        "promise": "a torn last index line is cut away at resume, so the next line is whole",
        "edits": [(SHARDS_C, "        else if ((uint64_t)st.st_size > good &&",
                   "        else if (0 &&")],
        "tests": [C_SHARDS, ["pytest", T_SHARDS, "-k", "torn_index_line"]],
    },
    {
        "id": "shards-torn-index-line-counted",
        "promise": "a torn last index line (a writer killed while appending it) is not a complete shard",
        "edits": [(SHARDS_C, "        if (!j && (last || !verify)) break; /* torn: a writer died while appending it */",
                   "        if (!j && (last || !verify)) { if (torn) w->count[BA_SHARDS_COMPLETE]++; break; }")],
        "tests": [C_SHARDS, FUZZ_SHARDS],
    },
    {
        "id": "shards-done-off-by-one",
        "promise": "resume renders exactly the indices no complete shard holds (the end of a range is not done)",
        "edits": [(SHARDS_C, "    return lo > 0 && index < s->v[lo - 1].hi ? &s->v[lo - 1] : NULL;",
                   "    return lo > 0 && index <= s->v[lo - 1].hi ? &s->v[lo - 1] : NULL;")],
        "tests": [C_SHARDS, ["pytest", T_SHARDS, "-k", "interrupted_writer"]],
    },
    {
        "id": "shards-resume-renders-done-indices",
        "promise": "write_shards(resume=True) renders only the indices no complete shard holds",
        "edits": [(SHARDS_PY, "        todo_a, todo_b = itertools.tee((i, p) for i, p in make() if not w.done(i))",
                   "        todo_a, todo_b = itertools.tee((i, p) for i, p in make())")],
        "tests": [["pytest", T_SHARDS, "-k", "resumed_run and blender"]],
    },
    {
        "id": "shards-crc-unchecked",
        "promise": "a resume reads every shard back: one whose bytes differ from its crc32 is refused as damaged",
        "edits": [(SHARDS_C, "    if (c != crc)\n", "    if (0 && c != crc)\n")],
        "tests": [C_SHARDS],
    },
    {
        "id": "shards-size-unchecked",
        "promise": "a truncated shard is refused at resume, saying so",
        "edits": [(SHARDS_C, "    else if ((uint64_t)st.st_size < bytes)\n",
                   "    else if (0)\n")],
        "tests": [["pytest", T_SHARDS, "-k", "truncated_shard"]],
    },
    {
        "id": "shards-tar-checksum-wrong",
        "promise": "shards are POSIX ustar: each header's checksum is the standard's",
        "edits": [(SHARDS_C, "    for (int i = 0; i < BLOCK; i++) sum += h[i];\n    octal(h + 148, 7, sum);",
                   "    for (int i = 0; i < BLOCK; i++) sum += h[i];\n    octal(h + 148, 7, sum + 1);")],
        "tests": [C_SHARDS, ["pytest", T_SHARDS, "-k", "synthetic_samples"]],
    },
    {
        "id": "shards-tar-end-missing",
        "promise": "a shard ends as a tar must: two zero blocks",
        "edits": [(SHARDS_C, "    static const uint8_t end[2 * BLOCK];", "    static const uint8_t end[BLOCK];")],
        "tests": [C_SHARDS],
    },
    {
        "id": "shards-byte-limit-off",
        "promise": "a shard closes after the sample that brings it to shard_bytes or more",
        "edits": [(SHARDS_C, "(w->shard_bytes > 0 && w->bytes >= (uint64_t)w->shard_bytes))",
                   "(w->shard_bytes > 0 && w->bytes > (uint64_t)w->shard_bytes))")],
        "tests": [C_SHARDS, ["pytest", T_SHARDS, "-k", "byte_limit"]],
    },
    {
        "id": "shards-meta-keeps-worker",
        "promise": "a sample's JSON holds only what the seed and the index make (no worker, no timings)",
        "edits": [(SHARDS_C, 'static const char *const DROPPED_META[] = {"worker", ',
                   'static const char *const DROPPED_META[] = {')],
        "tests": [C_SHARDS, ["pytest", T_SHARDS, "-k", "synthetic_samples"]],
    },
    {
        "id": "shards-params-unchecked",
        "promise": "a resume whose parameters differ from the folder's is refused, naming what differs",
        "edits": [(SHARDS_C, "    if (first_difference(json_object_get(stored, \"params\"), params,",
                   "    if (0 && first_difference(json_object_get(stored, \"params\"), params,")],
        "tests": [["pytest", T_SHARDS, "-k", "refusals"]],
    },
    {
        "id": "shards-no-lock",
        "promise": "a second writer on the same folder is refused while the first lives",
        "edits": [(SHARDS_C, "        else if (flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0)",
                   "        else if (0)")],
        "tests": [C_SHARDS],
    },
    {
        "id": "shards-foreign-folder-taken",
        "promise": "a folder with files but no dataset.json is refused, untouched",
        "edits": [(SHARDS_C, "        else if (!exists && has_foreign_files(w->dir) > 0)",
                   "        else if (0)"),
                  (SHARDS_C, "    if (foreign)\n        return fail(", "    if (0)\n        return fail(")],
        "tests": [["pytest", T_SHARDS, "-k", "refusals"]],
    },
    {
        "id": "shards-disk-full-keeps-temp",
        "promise": "a failed write removes the shard being written and ends the writer",
        "edits": [(SHARDS_C, "    int e = errno;\n    drop_shard(w);\n    w->state = ST_FAILED;",
                   "    int e = errno;\n    w->state = ST_FAILED;")],
        "tests": [C_SHARDS],
    },
]
