#!/usr/bin/env bash
# Long fuzzing, for anyone with time and cores to spare:
#
#   ./scripts/fuzz-long.sh [SECONDS_PER_TARGET] [TARGET...]
#
# Runs every libFuzzer target in fuzz/ (or the ones named, e.g. frames_fuzzer)
# for SECONDS_PER_TARGET each (default 3600), as many at once as the machine has
# cores (FUZZ_JOBS), through `make fuzz`. CI runs the same targets for 10 s each
# (scripts/test.sh). The corpus grows in build/libfuzzer/corpus/<target>/ and is kept
# between runs (fuzz/corpus/ is only read); crashers land in
# build/libfuzzer/artifacts/<target>/ and the run stops at the first one.
# Progress goes to build/libfuzzer/<target>.log (tail -f it).
# A crasher, once the bug is fixed, belongs in fuzz/corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3600}
shift || true
case $seconds in '' | *[!0-9]*) echo "usage: $0 [SECONDS_PER_TARGET] [TARGET...]" >&2; exit 2 ;; esac
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for f in fuzz/*_fuzzer.c; do targets+=("$(basename "$f" .c)"); done
fi
echo "fuzz-long: ${targets[*]}, ${seconds}s each; corpus in build/libfuzzer/corpus/, logs in build/libfuzzer/<target>.log" >&2
start=$(date +%s)
make -j"${FUZZ_JOBS:-$(nproc)}" -O fuzz FUZZ_TARGETS="${targets[*]}" FUZZ_SECONDS="$seconds"
for t in "${targets[@]}"; do
    echo "$t: $(ls build/libfuzzer/corpus/"$t" | wc -l) corpus entries" >&2
done
echo "fuzz-long: no crash in $(( $(date +%s) - start )) s" >&2
