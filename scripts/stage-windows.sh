#!/usr/bin/env bash
# Lays out what the Windows packages ship (the zip and the MSI hold the same files):
#   scripts/stage-windows.sh DIR
# Builds the three release exes (x86_64-pc-windows-gnu) if needed, checks their DLL imports
# (scripts/check-windows-imports.sh) and copies into DIR:
#   yibao-broker.exe yibao-call.exe yibao-mock.exe
#   README.md README-Windows.md docs\*.md proto\README.md
#   examples\yibao.toml examples\python\… examples\csharp\…  sql\… (every .sql file)
#   sites\<name>\… (the site packs: site.toml, catalog.toml, README.md)
# The operator's own yibao.toml (copied from examples\yibao.toml) is not part of a package,
# so an uninstall or an upgrade never touches it.
# The exes are taken from $CARGO_TARGET_DIR (default target/).
set -euo pipefail
out="${1:?usage: stage-windows.sh DIR}"
cd "$(dirname "$0")/.."
target=x86_64-pc-windows-gnu
bin="${CARGO_TARGET_DIR:-target}/$target/release"
cargo build --release --target "$target" -p yibao-call -p yibao-broker -p yibao-mock
scripts/check-windows-imports.sh "$bin"
mkdir -p "$out"
for exe in yibao-broker yibao-call yibao-mock; do
    cp "$bin/$exe.exe" "$out/"
done
cp README.md "$out/README.md"
cp packaging/windows/README-Windows.md "$out/README-Windows.md"
mkdir -p "$out/docs" "$out/proto" "$out/examples/python" "$out/examples/csharp"
cp docs/*.md "$out/docs/"
cp proto/README.md "$out/proto/"
cp examples/yibao.toml "$out/examples/"
cp examples/python/* "$out/examples/python/"
cp examples/csharp/* "$out/examples/csharp/"
(find sql -type f -name '*.sql'; echo sql/README.md) | while read -r f; do
    mkdir -p "$out/$(dirname "$f")"
    cp "$f" "$out/$f"
done
find sites -type f | while read -r f; do
    mkdir -p "$out/$(dirname "$f")"
    cp "$f" "$out/$f"
done
# Windows line endings for the files people open in Notepad (the .sql files keep theirs:
# install.sql is UTF-8 with a BOM that sqlcmd reads).
find "$out" -type f \( -name '*.md' -o -name '*.toml' \) -exec sed -i 's/\r\?$/\r/' {} +
