#!/usr/bin/env bash
# Builds the MSI (scripts/package-msi.sh), then in a private, fresh Wine prefix
# (scripts/wine-prefix.sh): installs it (msiexec /i /qn), checks that every packaged file is
# in C:\Program Files\yibao and that the service yibao-broker is registered (stopped, start
# on demand, the SCM command line carrying service run --name --config) with its Event Log
# source; adds the files an
# operator would (yibao.toml, logs\, var\), uninstalls (msiexec /x /qn) and checks that the
# packaged files and the service are gone while the operator's files stay.
# Ends the Wine server it started, so a CI step cannot hang on it.
#   scripts/check-msi-wine.sh      (needs wixl, wine64, gcc-mingw-w64-x86-64)
set -euo pipefail
cd "$(dirname "$0")/.."
version="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)"
msi="dist/yibao-${version}-windows-x86_64.msi"
service=yibao-broker

scripts/package-msi.sh

prefix="$(mktemp -d)"
export WINEPREFIX="$prefix" WINEDEBUG=-all
cleanup() {
    timeout 60 wineserver -k >/dev/null 2>&1 || true
    rm -rf "$prefix"
}
trap cleanup EXIT
scripts/wine-prefix.sh "$prefix"

fail() { echo "FAIL: $*" >&2; exit 1; }
w() { timeout 300 wine "$@"; }
dir="$prefix/drive_c/Program Files/yibao"
# The packaged files, as the MSI names them (paths relative to the install folder).
mapfile -t files < <(sed -n 's|.*Source="\$(var.SourceDir)/\([^"]*\)".*|\1|p' packaging/windows/yibao.wxs)
[ "${#files[@]}" -gt 0 ] || fail "no files listed in packaging/windows/yibao.wxs"
svc_key='HKLM\SYSTEM\CurrentControlSet\Services\'"$service"
event_key='HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\'"$service"

echo "-- install: msiexec /i $msi /qn"
w msiexec /i "$(winepath -w "$msi")" /qn || fail "msiexec /i exited $?"
for f in "${files[@]}"; do
    [ -f "$dir/$f" ] || fail "not installed: $f"
done
echo "ok: ${#files[@]} files in C:\\Program Files\\yibao"
cmp -s "$dir/yibao-broker.exe" "${CARGO_TARGET_DIR:-target}/x86_64-pc-windows-gnu/release/yibao-broker.exe" \
    || fail "the installed yibao-broker.exe is not the one just built"
query="$(w sc query "$service" | tr -d '\r')" || fail "sc query $service: the service is not registered"
echo "$query" | grep -q 'STATE *: 1 *STOPPED' || fail "the service should be registered and stopped: $query"
reg="$(w reg query "$svc_key" | tr -d '\r')" || fail "no registry key $svc_key"
image="$(echo "$reg" | sed -n 's/^ *ImagePath *REG_[A-Z_]* *//p')"
echo "ok: service $service registered, stopped; ImagePath: $image"
case "$image" in
    *'yibao-broker.exe'*' service run --name yibao-broker --config "C:\Program Files\yibao\yibao.toml"') ;;
    *) fail "the service's command line should run service run --name $service --config <yibao.toml>: $image" ;;
esac
echo "$reg" | grep -Eq '^ *Start +REG_DWORD +0x3$' || fail "the service should start on demand (Start=3): $reg"
echo "ok: on-demand start, command line carries service run --name --config"
events="$(w reg query "$event_key" /v EventMessageFile | tr -d '\r')" || fail "no Event Log source $event_key"
echo "$events" | grep -q 'EventLogMessages.dll' || fail "the Event Log source has no message file: $events"
echo "ok: Event Log source $service registered"
case "$image" in
    '"'*) echo "ok: the exe path is quoted" ;;
    # Windows Installer quotes the path of a ServiceInstall exe; Wine 8's msiexec does not
    # (so the service as registered here would not start under Wine: Program Files has a space).
    *) echo "note: Wine's msiexec left the exe path unquoted (Windows Installer quotes it; sc.exe qc shows it)" ;;
esac

echo "-- the operator's files (not installed by the MSI): yibao.toml, logs\\, var\\"
mkdir -p "$dir/logs" "$dir/var"
cp examples/yibao.toml "$dir/yibao.toml"
echo "log line" >"$dir/logs/yibao-broker.2026-12-02.log"
echo "db" >"$dir/var/yibao.db"

echo "-- uninstall: msiexec /x $msi /qn"
w msiexec /x "$(winepath -w "$msi")" /qn || fail "msiexec /x exited $?"
for f in "${files[@]}"; do
    [ ! -e "$dir/$f" ] || fail "still there after uninstall: $f"
done
for d in docs proto examples sql; do
    [ ! -e "$dir/$d" ] || fail "folder still there after uninstall: $d"
done
echo "ok: the ${#files[@]} installed files and their folders are gone"
if w sc query "$service" >/dev/null 2>&1; then fail "service $service still registered after uninstall"; fi
if w reg query "$svc_key" >/dev/null 2>&1; then fail "registry key $svc_key still there after uninstall"; fi
if w reg query "$event_key" /v EventMessageFile >/dev/null 2>&1; then fail "Event Log source $event_key still there after uninstall"; fi
echo "ok: service $service and its Event Log source removed"
for f in yibao.toml logs/yibao-broker.2026-12-02.log var/yibao.db; do
    [ -f "$dir/$f" ] || fail "uninstall removed the operator's $f"
done
echo "ok: yibao.toml, logs\\ and var\\ kept"
echo "MSI check OK: $msi"
