#!/usr/bin/env python3
"""Start-up time of the Windows shim under Wine beside a trivial Windows exe.

    WINEPREFIX=<prepared prefix> scripts/wine-startup.py [N]

Builds an empty C program with mingw (the floor: what any Windows process costs under
Wine), then starts it and `yibao-call.exe --version` N times each (alternating, wineserver
kept running) and prints medians and the ratio as a Markdown table. Wine adds its own
per-process cost, so the ratio, not the absolute time, is what carries over to Windows.
"""
import os, statistics, subprocess, sys, tempfile, time

n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
shim = os.path.join(root, "target/x86_64-pc-windows-gnu/release/yibao-call.exe")
env = dict(os.environ, WINEDEBUG="-all")
tmp = tempfile.mkdtemp()
src, trivial = os.path.join(tmp, "empty.c"), os.path.join(tmp, "empty.exe")
with open(src, "w") as f:
    f.write("int main(void) { return 0; }\n")
subprocess.run(["x86_64-w64-mingw32-gcc", "-O2", "-s", "-o", trivial, src], check=True)
subprocess.run(["wineserver", "-p"], env=env, check=False)  # keep one wineserver for all runs

def once(cmd):
    t = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t) * 1000

runs = {"empty.exe": [], "yibao-call.exe --version": []}
for _ in range(3):  # warm the caches
    once(["wine", trivial]); once(["wine", shim, "--version"])
for _ in range(n):
    runs["empty.exe"].append(once(["wine", trivial]))
    runs["yibao-call.exe --version"].append(once(["wine", shim, "--version"]))

print(f"| program (under Wine, N={n}) | median ms | min ms | max ms |")
print("|---|---:|---:|---:|")
for name, xs in runs.items():
    print(f"| {name} | {statistics.median(xs):.1f} | {min(xs):.1f} | {max(xs):.1f} |")
ratio = statistics.median(runs["yibao-call.exe --version"]) / statistics.median(runs["empty.exe"])
print(f"\nratio shim / empty exe (medians): {ratio:.2f}")
