#!/usr/bin/env bash
# Install the extra Blender versions the tests render with (beside Debian's
# `blender` binary and the bpy in .venv): one virtual environment per bpy version
# pinned in scripts/blenders.txt, each with the Python its wheel is built for,
#
#     ${BLENDARRAY_BLENDERS:-$HOME/.cache/blendarray/blenders}/bpy-<version>/bin/python
#
# outside the checkout, so that clean clones (CI) reuse them. A venv is built
# under a temporary name and renamed into place once it is complete (bpy imported
# and its version checked), with a marker naming its bpy and Python versions: an
# interrupted run leaves nothing that looks done, and a complete one is reused as
# long as the table asks for the same bpy version and Python minor version.
# Idempotent; with everything in place it only checks and prints what it has.
#
# The Pythons: python3.X on PATH, else pyenv's versions/3.X.* (or
# $BLENDARRAY_PYTHON3X, e.g. BLENDARRAY_PYTHON313=/opt/py313/bin/python).
# A missing Python is warned about loudly and skipped (the tests then skip, or
# fail where BLENDARRAY_REQUIRE_FLAVOURS=1 and the Python exists); any other
# failure fails the script, after trying the other versions.
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
TABLE=$HERE/blenders.txt
DEST=${BLENDARRAY_BLENDERS:-$HOME/.cache/blendarray/blenders}
MARKER=.blendarray-complete

say() { echo "install-blenders.sh: $*" >&2; }

loud() { # loud LINE...: a warning nobody scrolls past
    local bar="########################################################################"
    {
        echo "$bar"
        for line in "$@"; do echo "#  $line"; done
        echo "$bar"
    } >&2
}

# find_python 3.11: the path of a working Python 3.11 with the venv module, or nothing.
find_python() {
    local want=$1 var c real
    local candidates=()
    var="BLENDARRAY_PYTHON${want//./}"
    [ -n "${!var:-}" ] && candidates+=("${!var}")
    candidates+=("python$want")
    local root=${PYENV_ROOT:-$HOME/.pyenv}
    for c in $(ls -d "$root"/versions/"$want".*/bin/python 2>/dev/null | sort -rV); do
        candidates+=("$c")
    done
    for c in "${candidates[@]}"; do
        # a pyenv shim for a version that is not selected exits non-zero: next one
        real=$("$c" -c "import sys, venv, ensurepip; assert '%d.%d' % sys.version_info[:2] == '$want'; print(sys.executable)" 2>/dev/null) || continue
        [ -n "$real" ] && { echo "$real"; return 0; }
    done
    return 1
}

# complete DIR BPY MINOR: is DIR a finished venv of that bpy for that Python minor?
complete() {
    local d=$1 bpy=$2 minor=$3
    [ -f "$d/$MARKER" ] && [ -x "$d/bin/python" ] &&
        grep -qx "bpy=$bpy" "$d/$MARKER" && grep -qx "python_minor=$minor" "$d/$MARKER"
}

mkdir -p "$DEST"
# leftovers of interrupted runs: .partial folders whose process is gone
for p in "$DEST"/.bpy-*.partial.*; do
    [ -e "$p" ] || continue
    kill -0 "${p##*.}" 2>/dev/null || rm -rf "$p"
done

summary=()
failed=0
row() { # row FLAVOUR BPY STATE...: one line of the summary
    local f=$1 b=$2
    shift 2
    summary+=("$(printf '%-8s bpy %-7s %s' "$f" "$b" "$*")")
}
pyver() { sed -n 's/^python=//p' "$1/$MARKER"; }

while read -r flavour bpy minor _ <&3; do
    case "$flavour" in '' | '#'*) continue ;; esac
    final=$DEST/bpy-$bpy
    if complete "$final" "$bpy" "$minor"; then
        row "$flavour" "$bpy" "Python $(pyver "$final")  cached     $final/bin/python"
        continue
    fi
    if ! py=$(find_python "$minor"); then
        loud "bpy $bpy ($flavour) NOT TESTED: no Python $minor on this machine." \
             "bpy $bpy is built for Python $minor only. Looked for \$BLENDARRAY_PYTHON${minor//./}," \
             "python$minor on PATH and ${PYENV_ROOT:-$HOME/.pyenv}/versions/$minor.*." \
             "Install one (e.g. \`pyenv install $minor\`) and run scripts/install-blenders.sh again;" \
             "until then the tests skip the $flavour flavour."
        row "$flavour" "$bpy" "MISSING: no Python $minor on this machine: NOT TESTED"
        continue
    fi
    t0=$(date +%s)
    if [ -e "$final" ]; then # there but not complete (or for another Python): start again
        say "$final is incomplete or for another Python: rebuilding it"
        rm -rf "$final"
    fi
    tmp=$DEST/.bpy-$bpy.partial.$$
    rm -rf "$tmp"
    say "installing bpy $bpy with $py into $final"
    if "$py" -m venv "$tmp" &&
        "$tmp/bin/python" -m pip install -q --disable-pip-version-check "bpy==$bpy" &&
        got=$("$tmp/bin/python" -c "import bpy; print(bpy.app.version_string)") &&
        { [[ "$got" == "$bpy" || "$got" == "$bpy "* ]] || { say "bpy $bpy reports version '$got'"; false; }; }; then
        # the venv's own scripts (pip, activate) name the folder they were made in
        grep -rlF -- "$tmp" "$tmp/bin" "$tmp/pyvenv.cfg" | xargs -r sed -i "s|$tmp|$final|g" || true
        printf 'bpy=%s\npython_minor=%s\npython=%s\nbase=%s\nblender=%s\n' "$bpy" "$minor" \
            "$("$tmp/bin/python" -c 'import platform; print(platform.python_version())')" "$py" "$got" >"$tmp/$MARKER"
        if ! mv -T "$tmp" "$final" 2>/dev/null; then # another run finished it first
            rm -rf "$tmp"
            complete "$final" "$bpy" "$minor" || { say "could not put $final in place"; failed=1; continue; }
        fi
        row "$flavour" "$bpy" "Python $(pyver "$final")  installed  $final/bin/python ($(($(date +%s) - t0)) s)"
    else
        rm -rf "$tmp"
        say "FAILED to install bpy $bpy with $py"
        row "$flavour" "$bpy" "FAILED to install (see above)"
        failed=1
    fi
done 3<"$TABLE"

echo "Blenders in $DEST (flavours for the tests; pinned in scripts/blenders.txt):"
printf '  %s\n' "${summary[@]}"
exit $failed
