#!/usr/bin/env bash
# Builds dist/yibao-<version>-windows-x86_64.msi from packaging/windows/yibao.wxs with wixl
# (Debian package wixl, from msitools), holding the same files as the zip
# (scripts/stage-windows.sh). Prerequisites: packaging/windows/README-Windows.md, "Building".
#   scripts/package-msi.sh          (builds the exes if needed; takes them from $CARGO_TARGET_DIR)
# scripts/check-msi-wine.sh installs and uninstalls the result under Wine.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wixl >/dev/null || { echo "wixl not found: apt-get install wixl" >&2; exit 1; }
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
[ -n "$version" ] || { echo "no version in Cargo.toml" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
stage="$work/stage"
scripts/stage-windows.sh "$stage"
wxs=packaging/windows/yibao.wxs
# Every staged file must be in the MSI, and every file the MSI names must be staged.
(cd "$stage" && find . -type f | sed 's|^\./||' | sort) >"$work/staged"
sed -n 's|.*Source="\$(var.SourceDir)/\([^"]*\)".*|\1|p' "$wxs" | sort >"$work/listed"
if ! diff -u "$work/listed" "$work/staged" >"$work/diff"; then
    echo "packaging/windows/yibao.wxs and the staged files differ (- only in the .wxs, + only staged):" >&2
    tail -n +3 "$work/diff" | grep '^[-+]' >&2
    exit 1
fi
mkdir -p dist
out="dist/yibao-${version}-windows-x86_64.msi"
rm -f "$out"
# wixl takes Source paths relative to where it runs (it rejects absolute ones).
(cd "$stage" && wixl -a x64 -D "Version=$version" -D SourceDir=. -o "$OLDPWD/$out" "$OLDPWD/$wxs")
echo "$(wc -l <"$work/staged") files, $(du -h "$out" | cut -f1)"
echo "built $out"
