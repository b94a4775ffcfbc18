#!/usr/bin/env bash
# Install everything, then run all tests: C unit tests (plain and under
# ASan/UBSan), the fuzz corpus replay, and the Python tests with both Blenders.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
make test-c
make test-c-asan
make fuzz-replay
BLENDARRAY_REQUIRE_FLAVOURS=1 exec .venv/bin/python -m pytest -q tests/python tests/cli "$@"
