#!/usr/bin/env bash
# Prepares a private Wine prefix for running the Windows (x86_64-pc-windows-gnu) binaries:
#   scripts/wine-prefix.sh DIR
# Needs wine64 and gcc-mingw-w64-x86-64 (Debian packages; .ci/run installs them).
set -euo pipefail
prefix="${1:?usage: wine-prefix.sh DIR}"
here="$(cd "$(dirname "$0")" && pwd)"
export WINEPREFIX="$prefix" WINEDEBUG=-all
mkdir -p "$prefix"
wine wineboot --init >/dev/null 2>&1 || true
wineserver -w || true
# Wine 8 has no bcryptprimitives.dll (ProcessPrng), which Rust's std needs: see the source.
build="$(mktemp -d)"
x86_64-w64-mingw32-gcc -O2 -shared -o "$build/bcryptprimitives.dll" \
    "$here/wine/bcryptprimitives.c" "$here/wine/bcryptprimitives.def" -lbcrypt
cp "$build/bcryptprimitives.dll" "$prefix/drive_c/windows/system32/"
rm -rf "$build"
echo "wine prefix ready: $prefix"
