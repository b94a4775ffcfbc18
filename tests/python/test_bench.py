"""The benchmarks of bench/ still run to the end.

Each script runs with --smoke (its tiniest run that goes through all its code
to the final table: tiny frames, few of them, one repeat; its figures mean
nothing) in a Python of its own, as a user runs it (`.venv/bin/python
bench/X.py`, from the checkout's root, Blender = the script's default), and
must exit 0 and print its final table or summary: the lines below, which the
script prints last (a table's last row, or a summary line that needs every
measurement). stream.py also runs with --cycles64 (its comparison table,
with the renderer in a child Python). bench/stream_blender.py is stream.py's
in-Blender half, run by it; bench/gym_blender.py is gym_env.py's.
"""
import glob
import os
import re
import subprocess
import sys

import pytest

from support import ROOT

# each starts Blender (ray_read.py a local Ray cluster too), some many times
pytestmark = [pytest.mark.slow, pytest.mark.blender]

NUM = r"[0-9.]+"
PCT = r"\( *[0-9.]+%\)"
# script -> its runs: (arguments, regular expressions that must each match a line of its
# stdout, re.M)
RUNS = {
    "capture.py": [(["--smoke"], [
        r"; ms = median of 1; x = ratio to memcpy of the same bytes$",
        r"^engine +size +passes +MiB +route +capture ",
        rf"^CYCLES +32x24 +all 5 +{NUM} cycles hook ",
        rf"^WORKBENCH +32x24 +rgba 1 +{NUM} exr memfd ",
    ])],
    "display.py": [(["--smoke"], [
        r"; ms = median of 1, interleaved$",
        r"^ +size +ocio 1t +floor +make +own 1t +ocio Nt +cpu over +make/floor +make-floor$",
        rf"^ +64x48( +{NUM}){{5}} +-?{NUM} +{NUM} +[-+]{NUM}$",
    ])],
    "gym_env.py": [(["--smoke"], [
        r"^examples/gym_cube.py, 64x64, display image; 20 steps after 2;",
        rf"^WORKBENCH( +{NUM}){{3}}( +{NUM}%){{2}} +{NUM} +{NUM}% +{NUM} +{NUM} +{NUM}x"
        rf" +{NUM} +{NUM} +{NUM}x$",
    ])],
    "labels.py": [(["--smoke"], [
        r"^all 6 masks decoded to an \(N, H, W\) bool array$",
        r"^one soft mask \(coverage\) from a two-rank Cryptomatte pass$",
        rf"^NumPy +{NUM} +{NUM}x$",
    ])],
    "ray_read.py": [(["--smoke"], [
        r"^frames per second in steady state, best of 1 interleaved runs",
        rf"^ray-torch +{NUM} +{NUM}% +[-+]{NUM} ms$",
    ])],
    "shards.py": [
        (["--smoke"], [
            r"^frames per second \(ratio to none\), WORKBENCH, rgba \+ depth \+ display",
            rf"^ +32x24 +12( +{NUM} \( *{NUM}%\)){{4}}$",
            rf"^shards / none, worst size: {NUM}% \(goal >= 95%\)$",
        ]),
        (["--smoke", "--memory"], [
            rf"^40 frames in {NUM} s; consumer RSS from the first complete shard to the end: "
            rf"{NUM} -> {NUM} MiB \(range {NUM} MiB\)$",
        ]),
    ],
    "soak.py": [(["--smoke"], [
        rf"^20 frames in {NUM} s \({NUM} fps\); RSS growth from frame 5 to 19: "
        rf"consumer [-+]{NUM} MiB, workers [-+]{NUM} MiB$",
    ])],
    "stream.py": [
        (["--smoke"], [
            r"^frames per second \(ratio to the ceiling\); rgba \+ depth",
            rf"^32x24 +WORKBENCH +2 +{NUM}( +{NUM} {PCT}){{4}}$",
            rf"^scaling 32x24 WORKBENCH, threads=1 per worker: 2 workers / 1 worker = {NUM}x$",
        ]),
        (["--smoke", "--cycles64"], [
            r"^new = this checkout$",
            rf"^64x64 +CYCLES +1 +3 +{NUM} +{NUM} {PCT}$",
        ]),
    ],
    "torch_loader.py": [(["--smoke"], [
        r"^ W renderer fps +loader0 +loader2 +pickle +loader0 ms/frame over renderer$",
        rf"^ 2 +{NUM}( +{NUM} {PCT}){{3}} +[-+]{NUM}$",  # W=2: loader2 measured, not nan
    ])],
}
HELPERS = {"stream_blender.py", "gym_blender.py"}
TIMEOUT = 300  # seconds per run; each takes 1 to 20 on a 2-core machine


def test_every_benchmark_is_here():
    scripts = {os.path.basename(p) for p in glob.glob(os.path.join(ROOT, "bench", "*.py"))}
    assert scripts - HELPERS == set(RUNS)


@pytest.mark.parametrize("script", sorted(RUNS))
def test_smoke(script):
    for args, expected in RUNS[script]:
        cmd = [sys.executable, os.path.join("bench", script), *args]
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT)
        said = f"{' '.join(cmd)}\n--- stdout:\n{p.stdout[-4000:]}\n--- stderr:\n{p.stderr[-4000:]}"
        assert p.returncode == 0, f"exit status {p.returncode}: {said}"
        for pattern in expected:
            assert re.search(pattern, p.stdout, re.M), f"no line matches {pattern!r}: {said}"
