"""Exits with the given code: `exit_code.py CODE`."""

import sys

print(f"exiting with {sys.argv[1]}", flush=True)
sys.exit(int(sys.argv[1]))
