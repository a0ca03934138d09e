"""Floods stdout: `flood.py MEGABYTES [LINE_LENGTH]`; LINE_LENGTH 0 writes one endless line."""

import sys

total = int(float(sys.argv[1]) * 1024 * 1024)
length = int(sys.argv[2]) if len(sys.argv) > 2 else 100
chunk = (b"x" * (length - 1) + b"\n") * max(1, 65536 // length) if length else b"y" * 65536
out = sys.stdout.buffer
written = 0
while written < total:
    out.write(chunk)
    written += len(chunk)
out.write(b"\nend\n")
out.flush()
