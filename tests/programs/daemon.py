"""Double-forks a setsid() daemon that keeps stdout open and lives on.

`daemon.py [exit]`: prints `daemon <pid>` (from the daemon) and then `ready`; with `exit` the main
process exits right after, leaving the daemon holding the output pipe.
"""

import os
import signal
import sys

read_end, write_end = os.pipe()
if os.fork() == 0:  # first child
    os.close(read_end)
    os.setsid()
    if (
        os.fork() == 0
    ):  # the daemon: its parent exits, so it is re-parented (to a subreaper or init)
        os.write(1, f"daemon {os.getpid()}\n".encode())
        os.write(write_end, b"x")
        os.close(write_end)
        while True:
            signal.pause()
    os._exit(0)
os.close(write_end)
os.read(read_end, 1)  # the daemon is up (and has printed)
os.waitpid(-1, 0)  # reap the first child (this program's own child)
print("ready", flush=True)
if len(sys.argv) > 1 and sys.argv[1] == "exit":
    sys.exit(0)
while True:
    signal.pause()
