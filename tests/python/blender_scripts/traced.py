"""Run a script in Blender and write down every file of the checkout it used.

    blender -b --factory-startup --python traced.py -- DEPS_OUT ROOTS SCRIPT ARGS...
    python traced.py DEPS_OUT ROOTS SCRIPT ARGS...

ROOTS: folders joined by os.pathsep. After SCRIPT ran to its end (it sees
`SCRIPT -- ARGS...` as sys.argv, as it would when Blender runs it), DEPS_OUT
gets one line per file under a root that the process used: every module it
imported and every file it mapped into memory (a C library loaded with ctypes).
The test cache (tests/python/blender_cache.py) keys an entry on these files'
contents, so that a changed dependency rebuilds it.
"""
import os
import runpy
import sys

argv = sys.argv[sys.argv.index("--") + 1:] if "--" in sys.argv else sys.argv[1:]
deps_out, roots, script, args = argv[0], argv[1].split(os.pathsep), argv[2], argv[3:]
sys.argv = [script, "--", *args]
runpy.run_path(script, run_name="__main__")

roots = [os.path.realpath(r) + os.sep for r in roots if r]
used = set()
for m in list(sys.modules.values()):
    f = getattr(m, "__file__", None)
    if f:
        used.add(os.path.realpath(f))
with open("/proc/self/maps") as maps:
    for line in maps:
        fields = line.split(None, 5)
        if len(fields) == 6 and fields[5].startswith("/"):
            used.add(os.path.realpath(fields[5].strip()))
with open(deps_out, "w") as f:
    for path in sorted(used):
        if path.startswith(tuple(roots)) and os.path.isfile(path):
            f.write(path + "\n")
