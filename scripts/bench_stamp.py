"""The child every timed run executes: its first action is to print when it is executing.

A tiny C program (built once per bench run with the system's C compiler) so its own start-up is
negligible (~0.3 ms, measured by the bare-Popen baseline and reported); without a compiler, a
`python3 -S` script does the same with ~10 ms of start-up, which the baseline then shows.

    stamp            print "stamp <CLOCK_MONOTONIC> <CLOCK_REALTIME>" (seconds) and exit 0
    stamp sleep      print the stamp, then sleep until a signal (SIGTERM kills it)
    stamp term       fork a child; both exit(0) on SIGTERM (a cooperative tree of two); the
                     parent prints the stamp once the child has installed its handler
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

C_SOURCE = r"""
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void stamp(void) {
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    char line[96];
    int n = snprintf(line, sizeof line, "stamp %ld.%09ld %ld.%09ld\n",
                     (long)mono.tv_sec, mono.tv_nsec, (long)real.tv_sec, real.tv_nsec);
    (void)!write(1, line, n);
}

static void bye(int sig) { (void)sig; _exit(0); }

int main(int argc, char **argv) {
    if (argc < 2) { stamp(); return 0; }
    if (strcmp(argv[1], "sleep") == 0) { stamp(); for (;;) pause(); }
    if (strcmp(argv[1], "term") == 0) {
        int ready[2];
        if (pipe(ready) != 0) return 2;
        signal(SIGTERM, bye);
        if (fork() == 0) { close(ready[0]); (void)!write(ready[1], "x", 1); for (;;) pause(); }
        char x; close(ready[1]); (void)!read(ready[0], &x, 1);
        stamp();
        for (;;) pause();
    }
    return 2;
}
"""

PY_SOURCE = r"""
import os, signal, sys, time
def stamp():
    os.write(1, b"stamp %.9f %.9f\n" % (time.monotonic(), time.time()))
mode = sys.argv[1] if len(sys.argv) > 1 else ""
if mode == "term":
    signal.signal(signal.SIGTERM, lambda *a: os._exit(0))
    r, w = os.pipe()
    if os.fork() == 0:
        os.write(w, b"x")
        while True: signal.pause()
    os.read(r, 1)
if mode in ("", "sleep", "term"):
    stamp()
    if not mode: sys.exit(0)
    while True: signal.pause()
sys.exit(2)
"""


def build_stamp(folder: Path) -> tuple[tuple[str, ...], str]:
    """argv prefix of the stamp program and how it was made (for the report)."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is not None:
        source = folder / "stamp.c"
        source.write_text(C_SOURCE)
        binary = folder / "stamp"
        for flags in (["-static"], []):
            done = subprocess.run(
                [compiler, "-O2", *flags, "-o", str(binary), str(source)],
                capture_output=True,
            )
            if done.returncode == 0:
                kind = "static" if flags else "dynamic"
                return (str(binary),), f"C program ({kind}), negligible start-up"
    script = folder / "stamp.py"
    script.write_text(PY_SOURCE)
    return (sys.executable, "-S", "-I", str(script)), "python -S -I script (no C compiler)"


def parse_stamp(line: str) -> tuple[float, float] | None:
    """(monotonic, realtime) seconds from a stamp line, or None for any other line."""
    parts = line.split()
    if len(parts) != 3 or parts[0] != "stamp":
        return None
    return float(parts[1]), float(parts[2])
