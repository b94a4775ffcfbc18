#!/usr/bin/env bash
# Install everything, render the built-in demo scene, print every pass and save out/demo.npz.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install.sh
exec .venv/bin/python examples/demo.py "${@:-out/demo.npz}"
