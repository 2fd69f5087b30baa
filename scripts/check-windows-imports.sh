#!/usr/bin/env bash
# The oldest Windows each shipped exe runs on, checked from the DLLs it imports: the one home
# of that rule, used by both packages (scripts/stage-windows.sh, for the zip and the MSI).
#   scripts/check-windows-imports.sh BIN_DIR     (BIN_DIR holds the three release exes)
# An exe importing a DLL outside its list fails the check; README-Windows.md ("Requirements")
# states the same minimums. Only DLL names are checked: a new import from a listed DLL that
# needs a newer Windows is not caught (the listed ones are the C runtime and the kernel's).
set -euo pipefail
bin="${1:?usage: check-windows-imports.sh BIN_DIR}"
objdump=x86_64-w64-mingw32-objdump
command -v "$objdump" >/dev/null || { echo "$objdump not found: apt-get install gcc-mingw-w64-x86-64" >&2; exit 1; }

# yibao-call.exe, the shim started on the SQL Server host: Windows 8 / Server 2012
# (api-ms-win-core-synch-l1-2-0 = WaitOnAddress, Windows 8).
shim="kernel32.dll ntdll.dll msvcrt.dll api-ms-win-core-synch-l1-2-0.dll"
# yibao-broker.exe, yibao-mock.exe: Windows 10 / Server 2016, because Rust's std imports
# ProcessPrng from bcryptprimitives.dll.
mock="$shim bcryptprimitives.dll ws2_32.dll"
# The broker also uses the SCM and security descriptors (advapi32) and Windows TLS and
# certificates (secur32, crypt32, ncrypt, bcrypt).
broker="$mock advapi32.dll secur32.dll crypt32.dll ncrypt.dll bcrypt.dll"

check() { # exe oldest allowed…
    local exe="$1" oldest="$2"
    shift 2
    local path="$bin/$exe" imports dll bad=0
    [ -f "$path" ] || { echo "missing $path (build it first)" >&2; exit 1; }
    imports="$("$objdump" -p "$path" | sed -n 's/.*DLL Name: //p' | tr 'A-Z' 'a-z' | sort -u)"
    [ -n "$imports" ] || { echo "$exe: no DLL imports found by $objdump" >&2; exit 1; }
    for dll in $imports; do
        case " $* " in
            *" $dll "*) ;;
            *) echo "$exe must not import $dll: it has to run on $oldest (README-Windows.md, requirements)" >&2; bad=1 ;;
        esac
    done
    [ "$bad" = 0 ] || exit 1
    echo "ok: $exe runs on $oldest; imports: $(echo $imports)"
}
check yibao-call.exe "Windows 8 / Server 2012" $shim
check yibao-mock.exe "Windows 10 / Server 2016" $mock
check yibao-broker.exe "Windows 10 / Server 2016" $broker
