"""Deliberate bugs for issue 23 (the full tier's time): its caches (the mutation
check's results, the .venv template) must never pass off a stale result or a
changed template. Same format as mutants.py."""

T_CACHES = "tests/python/test_ci_caches.py"

CI_MUTANTS = [
    {
        "id": "mutation-key-blind-to-headers",
        "promise": "a C mutant's cached result is not used once its layer (src/, include/) changed",
        "edits": [("tests/mutation/run.py", 'LAYERS = {"src": ("src", "include"),',
                   'LAYERS = {"src": ("src",),')],
        "tests": [["pytest", T_CACHES, "-k", "layer_package_and_tests"]],
    },
    {
        "id": "mutation-cache-no-rotation",
        "promise": "each run also runs the cached mutants verified longest ago",
        "edits": [("tests/mutation/run.py", "    while hit and spent < rotate * jobs:",
                   "    while hit and spent < 0:")],
        "tests": [["pytest", T_CACHES, "-k", "oldest_are"]],
    },
    {
        "id": "mutation-cache-keeps-a-miss",
        "promise": "only a caught mutant is taken from the cache (a miss runs again)",
        "edits": [("tests/mutation/run.py",
                   '        return e if e.get("verdict", "").startswith("caught") else None',
                   "        return e")],
        "tests": [["pytest", T_CACHES, "-k", "oldest_are"]],
    },
    {
        "id": "mutation-tree-sync-by-size",
        "promise": "a mutation tree gets every file that differs from the checkout",
        "edits": [("tests/mutation/run.py", "            if x != y:\n                return False",
                   "            if len(x) != len(y):\n                return False")],
        "tests": [["pytest", T_CACHES, "-k", "sync"]],
    },
    {
        "id": "venv-template-unchecked",
        "promise": "a .venv template whose files changed since it was saved is not used",
        "edits": [("scripts/venv_cache.py",
                   "            changed = (st.st_size, st.st_mtime_ns) != (size, mtime)",
                   "            changed = False")],
        "tests": [["pytest", T_CACHES, "-k", "changed_in_place"]],
    },
    {
        "id": "venv-template-never-expires",
        "promise": "a .venv template is used for 7 days at most (new releases of the unpinned dependencies come in)",
        "edits": [("scripts/venv_cache.py",
                   '    if time.time() - man.get("saved", 0) > MAX_AGE_DAYS * 86400:',
                   "    if False:")],
        "tests": [["pytest", T_CACHES, "-k", "week_at_most"]],
    },
    {
        "id": "venv-template-not-relocated",
        "promise": "a .venv made from the template runs its own Python, not the template's first place",
        "edits": [("scripts/venv_cache.py", "                f.write(text.replace(old, new))",
                   "                f.write(text)")],
        "tests": [["pytest", T_CACHES, "-k", "complete_and_its_own"]],
    },
]
