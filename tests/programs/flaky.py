"""Fails until its N-th attempt: `flaky.py COUNTER_FILE N` counts attempts in the file, prints
`attempt K`, and exits 1 before the N-th attempt, 0 from it on."""

import pathlib
import sys

counter = pathlib.Path(sys.argv[1])
attempt = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(attempt))
print(f"attempt {attempt}", flush=True)
sys.exit(0 if attempt >= int(sys.argv[2]) else 1)
