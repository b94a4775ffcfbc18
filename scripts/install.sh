#!/usr/bin/env bash
# Install what blendarray needs on a fresh Debian/Ubuntu machine, then build it.
#
#   ./scripts/install.sh          everything the tests use (scripts/test.sh runs this): system
#                                 packages (a C toolchain, OpenEXR, libpng, Debian's Blender and
#                                 the NumPy and PyOpenColorIO its Python uses, and the test tools:
#                                 clang and libFuzzer, valgrind, ccache), a virtual environment
#                                 .venv with blendarray installed in it, editable (pip install -e:
#                                 the C library, the CLI, the CPython extension and the ctypes
#                                 library, built by meson in build/dev and rebuilt on import), its
#                                 extras (torch, ray), the test references and the bpy module,
#                                 and the other Blender versions the tests use
#                                 (scripts/install-blenders.sh). A new .venv starts from the
#                                 dependencies pip installed last time with the same inputs
#                                 (scripts/venv_cache.py; BLENDARRAY_VENV_CACHE=off: pip does
#                                 all).
#   ./scripts/install.sh --demo   only what examples/demo.py runs (scripts/demo.sh runs this):
#                                 the system packages that build blendarray and Debian's Blender,
#                                 and .venv with blendarray alone (and NumPy). No test tools, no
#                                 bpy, torch or Ray, no extra Blenders; a later ./scripts/install.sh
#                                 adds them to the same .venv and build/dev.
#   --dry-run                     say what would be installed and run; change nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

DEMO=0
DRY_RUN=0
for arg in "$@"; do
    case $arg in
        --demo) DEMO=1 ;;
        --dry-run) DRY_RUN=1 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg' (expected --demo, --dry-run or --help)" >&2; exit 2 ;;
    esac
done

run() { # run COMMAND...: run it; with --dry-run, only print it
    if [ "$DRY_RUN" = 1 ]; then
        printf 'install.sh: would run:'
        printf ' %q' "$@"
        echo
    else
        "$@"
    fi
}
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

# python3-pyopencolorio: the Python binding of the OpenColorIO library Debian's Blender
# links, for display=True (the bpy wheels ship their own).
APT_PACKAGES=(gcc make pkg-config libopenexr-dev libpng-dev zlib1g-dev libzstd-dev libzip-dev
              libjansson-dev blender python3-numpy python3-venv python3-pyopencolorio)
# For the tests only: clang and llvm (llvm-symbolizer for readable sanitizer reports):
# make fuzz; valgrind: make valgrind-cli; ccache: the test tiers' many builds of the
# same C (meson uses it by itself).
APT_TEST_PACKAGES=(clang llvm valgrind ccache)
[ "$DEMO" = 1 ] || APT_PACKAGES+=("${APT_TEST_PACKAGES[@]}")
[ "$DRY_RUN" = 0 ] || echo "install.sh: apt packages: ${APT_PACKAGES[*]}"
missing=()
for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "install.sh: installing ${missing[*]}" >&2
    run $sudo apt-get update -q
    run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

# libFuzzer's runtime is in libclang-rt-<version>-dev on Debian 12 / Ubuntu,
# only "recommended" by clang: install it if clang cannot link a fuzzer.
if [ "$DEMO" = 0 ] && command -v clang >/dev/null &&
        ! echo 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }' |
        clang -x c -fsanitize=fuzzer -o /dev/null - 2>/dev/null; then
    v=$(clang -dumpversion | cut -d. -f1)
    echo "install.sh: installing libclang-rt-$v-dev (libFuzzer)" >&2
    run $sudo apt-get update -q
    run $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "libclang-rt-$v-dev"
fi

# Debian's Blender ships its Python scripts (its UI, operators, add-ons) without bytecode,
# and Blender never writes any (sys.dont_write_bytecode): each start compiled its startup
# modules anew, 0.3-0.4 s of CPU, and the tests start it hundreds of times. Compiled here,
# by Blender's own Python (its version's bytecode); Python checks each file against its
# source's time and size at every import, so it is never stale, and compileall skips the
# files already done. Only a speed-up: a failure is said, not fatal.
if [ "$DRY_RUN" = 1 ] || command -v blender >/dev/null; then
    compile_blender=($sudo blender -b --factory-startup -noaudio --python-exit-code 1 --python-expr
        "import bpy, compileall, os; compileall.compile_dir(os.path.join(bpy.utils.resource_path('SYSTEM'), 'scripts'), quiet=2)")
    if [ "$DRY_RUN" = 1 ]; then
        run "${compile_blender[@]}"
    elif ! "${compile_blender[@]}" >/dev/null 2>&1; then
        echo "install.sh: could not byte-compile Debian's Blender's scripts (each start" \
             "compiles them: slower, nothing else)" >&2
    fi
fi

PYTHON=${PYTHON:-python3}
venv_python=.venv/bin/python
[ -x "$venv_python" ] || venv_python=$PYTHON # a fresh clone: .venv comes below
pip=(.venv/bin/python -m pip install -q --disable-pip-version-check)
# the build backend, as pyproject.toml names it (an editable install builds without isolation)
mapfile -t build_requires < <("$venv_python" -c "import tomllib
for r in tomllib.load(open('pyproject.toml', 'rb'))['build-system']['requires']: print(r)")
# The same meson options in both modes: build/dev is configured one way whichever ran
# last (the demo on a developer's checkout keeps its C tests), and the full install
# after --demo rebuilds nothing.
meson_args=(-Cbuild-dir=build/dev -Csetup-args=-Dwerror=true -Csetup-args=-Dtests=true)
# wheel: builds the one dependency that comes as an sdist only (typing, which comby,
# universalmutator's, requires) without build isolation; a fresh machine's pip cache has
# no wheel of it.
pip_build=("${build_requires[@]}" wheel)
# bpy: the version docs/testing.md's table gives for .venv (Python 3.11). torch==2.13.0: a
# CPU build (a plain `torch` is a multi-GB CUDA build). bpy 5.0.1 needs NumPy < 2,
# and pyarrow 26 (for Ray Data) needs NumPy >= 2 without saying so: pyarrow < 26.
# pycocotools: the labels tests' and bench/labels.py's reference (2.0.11 works with NumPy < 2).
pip_all=(--no-build-isolation -e '.[test,torch,ray,gym]' 'bpy==5.0.1' 'torch==2.13.0' 'pyarrow<26'
         'pycocotools==2.0.11' "${meson_args[@]}")

# A new .venv of the full install starts from the template of the last one that pip
# made with the same Python, pip arguments, pyproject.toml and pip configuration
# (scripts/venv_cache.py: hard links to ~/.cache/blendarray/venvs/<key>, checked
# against its manifest); pip then installs what it lacks, and blendarray. A .venv
# made by pip from nothing is saved as the template. BLENDARRAY_VENV_CACHE=off: none.
venv_key="" restored=0
if [ ! -x .venv/bin/python ]; then
    if [ ! -e .venv ] && [ "$DEMO" = 0 ] && [ "$DRY_RUN" = 0 ]; then
        venv_key=$("$PYTHON" scripts/venv_cache.py key "${pip_build[@]}" -- "${pip_all[@]}") ||
            venv_key=""
        if [ -n "$venv_key" ] && "$PYTHON" scripts/venv_cache.py restore "$venv_key" .venv; then
            restored=1
        fi
    fi
    if [ "$restored" = 0 ]; then
        run "$PYTHON" -m venv .venv
    else
        venv_key="" # nothing new to save
    fi
fi
if [ "$DEMO" = 1 ]; then
    run "${pip[@]}" "${build_requires[@]}"
    run "${pip[@]}" --no-build-isolation -e . "${meson_args[@]}"
    exit 0
fi
run "${pip[@]}" "${pip_build[@]}"
run "${pip[@]}" "${pip_all[@]}"
if [ -n "$venv_key" ]; then
    "$PYTHON" scripts/venv_cache.py save "$venv_key" .venv ||
        echo "install.sh: .venv was not kept as a template (the next new clone's pip does all)" >&2
fi

run ./scripts/install-blenders.sh
