#!/usr/bin/env bash
# Builds dist/yibao-<version>-windows-x86_64.zip: the three Windows exes (release,
# x86_64-pc-windows-gnu, static CRT), sql/, docs, a sample config and README-Windows.
#   scripts/package-windows.sh            (builds the exes if needed, then zips)
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
target=x86_64-pc-windows-gnu
cargo build --release --target "$target" -p yibao-call -p yibao-broker -p yibao-mock
# The shim must start on the oldest Windows a SQL Server host may run: it may import only
# system DLLs present since Windows 8 / Server 2012. (The broker needs Windows 10 / Server
# 2016: Rust's std takes randomness from bcryptprimitives.dll's ProcessPrng.)
imports="$(x86_64-w64-mingw32-objdump -p "target/$target/release/yibao-call.exe" | sed -n 's/.*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)"
echo "yibao-call.exe imports: $(echo $imports)"
for dll in $imports; do
    case "$dll" in
        kernel32.dll|ntdll.dll|msvcrt.dll|api-ms-win-core-synch-l1-2-0.dll) ;;
        *) echo "yibao-call.exe must not import $dll (see README-Windows, requirements)"; exit 1 ;;
    esac
done
for exe in yibao-broker yibao-mock; do
    echo "$exe.exe imports: $(x86_64-w64-mingw32-objdump -p "target/$target/release/$exe.exe" | sed -n 's/.*DLL Name: //p' | sort -u | tr '\n' ' ')"
done
name="yibao-${version}-windows-x86_64"
stage="$(mktemp -d)/$name"
mkdir -p "$stage/docs" dist
for exe in yibao-broker yibao-call yibao-mock; do
    cp "target/$target/release/$exe.exe" "$stage/"
done
cp -r sql "$stage/sql"
cp examples/yibao.toml "$stage/yibao.toml"
cp docs/config.md docs/sqlserver.md "$stage/docs/"
cp packaging/windows/README-Windows.md "$stage/README-Windows.md"
# Windows line endings for the files people open in Notepad.
for f in "$stage/yibao.toml" "$stage/README-Windows.md"; do
    sed -i 's/$/\r/' "$f"
done
out="dist/$name.zip"
rm -f "$out"
python3 - "$stage" "$out" <<'PY'
import os, sys, zipfile
stage, out = sys.argv[1], sys.argv[2]
root = os.path.dirname(stage)
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for d, _, files in os.walk(stage):
        for f in sorted(files):
            p = os.path.join(d, f)
            z.write(p, os.path.relpath(p, root))
with zipfile.ZipFile(out) as z:
    for i in z.infolist():
        print(f"{i.file_size:>10}  {i.filename}")
PY
echo "built $out"
