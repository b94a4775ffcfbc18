#!/usr/bin/env bash
# Install everything blendarray needs on a fresh Debian/Ubuntu machine, then build it:
# system packages (a C toolchain, OpenEXR, libpng, Debian's Blender and the NumPy and
# PyOpenColorIO its Python uses), a virtual environment .venv with blendarray installed in it, editable
# (pip install -e: the C library, the CLI, the CPython extension and the ctypes library,
# built by meson in build/dev and rebuilt on import), its test references and the bpy
# module, and the other Blender versions the tests use (scripts/install-blenders.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

# clang and llvm (llvm-symbolizer for readable sanitizer reports): make fuzz;
# valgrind: make valgrind-cli; ccache: the test tiers' many builds of the same C
# (meson uses it by itself); python3-pyopencolorio: the Python binding of the
# OpenColorIO library Debian's Blender links, for display=True (the bpy wheels
# ship their own).
APT_PACKAGES=(gcc make pkg-config clang llvm valgrind ccache libopenexr-dev libpng-dev zlib1g-dev libzip-dev
              libjansson-dev blender python3-numpy python3-venv python3-pyopencolorio)
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "install.sh: installing ${missing[*]}" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "${missing[@]}"
fi

# libFuzzer's runtime is in libclang-rt-<version>-dev on Debian 12 / Ubuntu,
# only "recommended" by clang: install it if clang cannot link a fuzzer.
if ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
        clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
    v=$(clang -dumpversion | cut -d. -f1)
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    echo "install.sh: installing libclang-rt-$v-dev (libFuzzer)" >&2
    $sudo apt-get update -q
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "libclang-rt-$v-dev"
fi

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# the build backend, as pyproject.toml names it (an editable install builds without isolation)
mapfile -t build_requires < <(.venv/bin/python -c "import tomllib
for r in tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']: print(r)")
# wheel: builds the one dependency that comes as an sdist only (typing, which comby,
# universalmutator's, requires) without build isolation; a fresh machine's pip cache has
# no wheel of it.
"${pip[@]}" "${build_requires[@]}" wheel
# bpy: the version the README's table gives for .venv (Python 3.11). torch==2.13.0: a
# CPU build (a plain `torch` is a multi-GB CUDA build). bpy 5.0.1 needs NumPy < 2,
# and pyarrow 26 (for Ray Data) needs NumPy >= 2 without saying so: pyarrow < 26.
# pycocotools: the labels tests' and bench/labels.py's reference (2.0.11 works with NumPy < 2).
"${pip[@]}" --no-build-isolation -e '.[test,torch,ray]' 'bpy==5.0.1' 'torch==2.13.0' 'pyarrow<26' \
    'pycocotools==2.0.11' \
    -Cbuild-dir=build/dev -Csetup-args=-Dwerror=true -Csetup-args=-Dtests=true

./scripts/install-blenders.sh
