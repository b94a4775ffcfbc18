#!/usr/bin/env bash
# Install everything, then run all tests: C unit tests and the fuzz corpus
# replay (plain and under ASan/UBSan), the Python extension's tests under
# ASan/UBSan, the command-line tool under valgrind, every libFuzzer target for
# FUZZ_SECONDS each (default 30; FUZZ_SECONDS=0 skips the fuzzing), the mutation
# check (tests/mutation: every deliberate bug must make its tests fail;
# MUTATION=0 skips it), then the Python and CLI tests with every Blender of the
# README's table (and pip installs into fresh venvs, the Blender add-on).
# Arguments go to pytest.
# A crash, leak or sanitizer report anywhere fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-30}
MUTATION=${MUTATION:-1}

timings=()
step() { # step NAME COMMAND...: run it, note how long it took
    local name=$1 t0 t1
    shift
    echo "==== $name" >&2
    t0=$(date +%s%N)
    "$@"
    t1=$(date +%s%N)
    t0=$(((t1 - t0) / 100000000)) # tenths of a second
    timings+=("$(printf '%-18s %5d.%d s' "$name" $((t0 / 10)) $((t0 % 10)))")
}

step install ./scripts/install.sh
step test-c make test-c              # with the fuzz corpus replay
step test-c-asan make test-c-asan    # the same, ASan/UBSan
step test-python-asan make test-python-asan
step valgrind-cli make valgrind-cli
if [ "$FUZZ_SECONDS" -gt 0 ]; then
    step fuzz make fuzz FUZZ_SECONDS="$FUZZ_SECONDS"
fi

if [ "$MUTATION" != 0 ]; then
    step mutation .venv/bin/python tests/mutation/run.py
fi

echo "==== timings" >&2
printf '%s\n' "${timings[@]}" >&2
# pytest last, so that its summary closes the output (its own line gives its time)
echo "==== pytest" >&2
exec env BLENDARRAY_REQUIRE_FLAVOURS=1 .venv/bin/python -m pytest -q tests/python tests/cli "$@"
