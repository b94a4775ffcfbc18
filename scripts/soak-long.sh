#!/usr/bin/env bash
# Soak test: stream many frames from warm Blender workers and print the RSS
# curve of the consumer and of each worker (bench/soak.py):
#
#   ./scripts/soak-long.sh [FRAMES] [extra bench/soak.py options]
#
# FRAMES defaults to 1,000,000 (64x64 Workbench, rgba and depth; hours on a
# small machine). A sample is printed every FRAMES/100 frames (at least 500;
# SOAK_EVERY overrides it), then the growth from the first sample after the
# warm-up to the last. Needs ./scripts/install.sh (or make) first. Examples:
#   ./scripts/soak-long.sh 100000 --blender bpy
#   SOAK_EVERY=1000 ./scripts/soak-long.sh 1000000 --engine CYCLES
set -euo pipefail
cd "$(dirname "$0")/.."
frames=${1:-1000000}
shift || true
case $frames in '' | *[!0-9]* | 0) echo "usage: $0 [FRAMES] [soak.py options]" >&2; exit 2 ;; esac
every=${SOAK_EVERY:-$((frames / 100 > 500 ? frames / 100 : 500))}
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || { echo "soak-long: $python not found: run ./scripts/install.sh first" >&2; exit 1; }
make -s PYTHON="$python" || exit 1  # build/dev up to date
exec "$python" -u bench/soak.py --frames "$frames" --every "$every" "$@"
