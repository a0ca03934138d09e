"""Spawns a child that spawns a grandchild (both sleep); prints `grandchild <pid>` then `ready`."""

import subprocess
import sys

if len(sys.argv) > 1 and sys.argv[1] == "child":
    grand = subprocess.Popen(["sleep", "3600"])
    print(f"grandchild {grand.pid}", flush=True)
    grand.wait()
    sys.exit(0)
child = subprocess.Popen([sys.executable, __file__, "child"])
print("ready", flush=True)
child.wait()
