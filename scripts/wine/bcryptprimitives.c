/* Test-only stand-in for Windows 10's bcryptprimitives.dll, which Wine 8 (Debian 12) lacks.
 * Rust's standard library (1.78 and later) takes its randomness from ProcessPrng in that
 * DLL; without it no Rust program for x86_64-pc-windows-gnu starts under Wine 8. This
 * forwards to BCryptGenRandom, which Wine has. It is copied only into the private
 * WINEPREFIX of the test run and never shipped: real Windows 10 / Server 2016 and later
 * have the genuine DLL. */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
