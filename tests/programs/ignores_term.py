"""Ignores SIGTERM, with N children that ignore it too: `ignores_term.py [N]`. Prints `ready`."""

import os
import signal
import sys

signal.signal(signal.SIGTERM, signal.SIG_IGN)
for _ in range(int(sys.argv[1]) if len(sys.argv) > 1 else 0):
    if os.fork() == 0:
        os.write(1, f"child {os.getpid()}\n".encode())
        while True:
            signal.pause()
os.write(1, f"ready {os.getpid()}\n".encode())
while True:
    signal.pause()
