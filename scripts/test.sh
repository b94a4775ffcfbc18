#!/usr/bin/env bash
# The tests, in two tiers.
#
#   ./scripts/test.sh           the full tier (what CI runs, on 2 cores about 12 minutes when
#                               the mutation cache holds most mutants, 18 when a change
#                               to src/ and python/ runs them all again):
#                               install everything, then the C unit tests and the fuzz
#                               corpus replay (plain and under ASan/UBSan), the Python
#                               extension's tests under ASan/UBSan, the command-line tool
#                               under valgrind, every libFuzzer target for FUZZ_SECONDS
#                               each (default 5, two at a time; FUZZ_SECONDS=0 skips;
#                               scripts/fuzz-long.sh is the long run), the mutation check
#                               (tests/mutation: every deliberate bug must make its tests
#                               fail; a mutant caught before whose key is unchanged is not
#                               run again, but the ones verified longest ago are, about a
#                               minute of them; MUTATION=full runs all) and a sample of
#                               generated mutants, GENERATED_SECONDS long in all (default
#                               45; MUTATION=0 skips both), then every
#                               Python and CLI test with every Blender of the table in
#                               docs/testing.md ("Blender versions tested"), JOBS at a
#                               time (default: one more than the cores; the mutants
#                               likewise).
#   ./scripts/test.sh --quick   the inner loop (about 3 minutes), from a built checkout
#                               (./scripts/install.sh once): the C tests, the Python and
#                               CLI tests that need no Blender (run with none to be found,
#                               so an unmarked one fails), one smoke render per Blender.
#
# Other arguments go to the last pytest. A crash, leak or sanitizer report anywhere
# fails the run. Blender's work for the tests (scenes, reference renders) is cached in
# ~/.cache/blendarray/tests (tests/python/blender_cache.py), compiler output by ccache,
# the mutants' verdicts in ~/.cache/blendarray/mutation (tests/mutation/run.py), a new
# clone's .venv comes from a template (scripts/venv_cache.py), and install.sh
# byte-compiles Debian's Blender's own scripts once.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZ_SECONDS=${FUZZ_SECONDS:-5}
MUTATION=${MUTATION:-1}
QUICK=0
if [ "${1:-}" = "--quick" ]; then
    QUICK=1
    shift
fi
# ccache (scripts/install.sh installs it; meson uses it by itself): the same objects
# from any clone of the checkout, whatever its folder.
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
# A private TMPDIR for the steps before pytest (the C tests, the fuzzers, the mutants):
# nothing else on the machine meets their temporary files. Removed when the run passes,
# kept (and named) when it fails. Short: a mutant's pytest makes its own inside it, and
# torch's Unix socket paths under that must stay within 107 characters. The last
# pytest makes its own private one in the usual TMPDIR (tests/conftest.py).
OUTER_TMPDIR=${TMPDIR:-/tmp}
TMPDIR=$(mktemp -d "$OUTER_TMPDIR/bt.XXXXXX")
export TMPDIR
trap 'rc=$?; if [ $rc = 0 ]; then rm -rf "$TMPDIR"; else echo "test.sh: kept $TMPDIR" >&2; fi' EXIT
PYTEST=(.venv/bin/python -m pytest -q -p no:cacheprovider)
# Mutants and tests at once: one more than the cores, as a test often waits (a Blender
# starting, a timeout running out) while another computes.
JOBS=${JOBS:-$(($(nproc) + 1))}

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
print_timings() {
    echo "==== timings" >&2
    printf '%s\n' "${timings[@]}" >&2
}

if [ "$QUICK" = 1 ]; then
    if [ ! -x .venv/bin/python ] || [ ! -f build/dev/build.ninja ]; then
        echo "test.sh --quick runs in a built checkout: run ./scripts/install.sh once" \
             "(or ./scripts/test.sh, which installs and runs everything)" >&2
        exit 2
    fi
    step test-c make -s test-c
    # no Blender to be found: a test that runs one but is not marked `blender` fails
    step python-no-blender env TMPDIR="$OUTER_TMPDIR" PATH="$PWD/tests/no_blender/bin:$PATH" \
        PYTHONPATH="$PWD/tests/no_blender" BLENDARRAY_BLENDERS="$PWD/tests/no_blender/none" \
        "${PYTEST[@]}" -m "not blender and not slow" tests/python tests/cli
    print_timings
    echo "==== smoke renders (pytest -m smoke)" >&2
    env TMPDIR="$OUTER_TMPDIR" BLENDARRAY_REQUIRE_FLAVOURS=1 "${PYTEST[@]}" -m smoke tests/python tests/cli "$@"
    exit
fi

step install ./scripts/install.sh
step test-c make test-c              # with the fuzz corpus replay
step test-c-asan make test-c-asan    # the same, ASan/UBSan
step test-python-asan make test-python-asan
step valgrind-cli make valgrind-cli
if [ "$FUZZ_SECONDS" -gt 0 ]; then
    step fuzz make -j"$(nproc)" -O fuzz FUZZ_SECONDS="$FUZZ_SECONDS"
fi

if [ "$MUTATION" != 0 ]; then
    # its results are cached in ~/.cache/blendarray/mutation (tests/mutation/run.py says
    # what a key holds); MUTATION=full: every mutant, whatever the cache says
    mutation_args=()
    [ "$MUTATION" != full ] || mutation_args=(--full)
    step mutation .venv/bin/python tests/mutation/run.py --jobs "$JOBS" "${mutation_args[@]}"
    # a sample of universalmutator's mutants, seeded by the commit: the score and the
    # survivors are printed (triage: a test, or tests/mutation/equivalent.txt)
    step generated-mutants .venv/bin/python tests/mutation/generated.py --jobs "$JOBS" \
        --budget "${GENERATED_SECONDS:-45}"
fi

print_timings
# pytest last, so that its summary closes the output (its own line gives its time)
echo "==== pytest" >&2
# JOBS tests at a time (pytest-xdist; the files of tests/conftest.py's TOGETHER each in one
# process, in order: they share a Ray cluster, reference frames or files)
env TMPDIR="$OUTER_TMPDIR" BLENDARRAY_REQUIRE_FLAVOURS=1 "${PYTEST[@]}" -n "$JOBS" --dist loadgroup \
    --durations=20 tests/python tests/cli "$@"
