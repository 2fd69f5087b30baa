#!/usr/bin/env bash
# Builds dist/yibao-<version>-windows-x86_64.zip: the three Windows exes (release,
# x86_64-pc-windows-gnu, static CRT), sql/, the docs, the example config and README-Windows;
# the same files as the MSI (scripts/stage-windows.sh, which also checks the DLL imports).
#   scripts/package-windows.sh     (builds the exes if needed; takes them from $CARGO_TARGET_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
[ -n "$version" ] || { echo "no version in Cargo.toml" >&2; exit 1; }
name="yibao-${version}-windows-x86_64"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/$name"
scripts/stage-windows.sh "$stage"
mkdir -p dist
out="dist/$name.zip"
rm -f "$out"
python3 - "$stage" "$out" <<'PY'
import os, sys, zipfile
stage, out = sys.argv[1], sys.argv[2]
root = os.path.dirname(stage)
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d, dirs, files in os.walk(stage):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, root))
with zipfile.ZipFile(out) as z:
    for i in z.infolist():
        print(f"{i.file_size:>10}  {i.filename}")
PY
echo "built $out"
