#!/usr/bin/env bash
# Install what the demo runs (./scripts/install.sh --demo: the build tools, Debian's
# Blender and .venv with blendarray; no test tools, no extra Blenders), render the
# built-in demo scene, print every pass and save out/demo.npz.
#
#   ./scripts/demo.sh [OUT.npz]
#   ./scripts/demo.sh --dry-run [OUT.npz]   say what it would install and run; change nothing
set -euo pipefail
cd "$(dirname "$0")/.."
dry_run=()
if [ "${1:-}" = "--dry-run" ]; then
    dry_run=(--dry-run)
    shift
fi
./scripts/install.sh --demo "${dry_run[@]}"
demo=(.venv/bin/python examples/demo.py "${@:-out/demo.npz}")
if [ ${#dry_run[@]} -gt 0 ]; then
    printf 'demo.sh: would run:'
    printf ' %q' "${demo[@]}"
    echo
    exit 0
fi
exec "${demo[@]}"
