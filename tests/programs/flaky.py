"""Fails until its N-th attempt: `flaky.py COUNTER_FILE N [SLEEP]` counts attempts in the file,
prints `attempt K`, and exits 1 before the N-th attempt (after SLEEP s), 0 from it on."""

import pathlib
import sys
import time

counter = pathlib.Path(sys.argv[1])
attempt = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(attempt))
print(f"attempt {attempt}", flush=True)
if attempt < int(sys.argv[2]):
    time.sleep(float(sys.argv[3]) if len(sys.argv) > 3 else 0)
    sys.exit(1)
