"""Kills itself with the given signal: `kill_self.py SIGNAL_NUMBER`."""

import os
import sys

os.kill(os.getpid(), int(sys.argv[1]))
