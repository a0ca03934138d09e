"""Prints bytes that are not UTF-8, on stdout and stderr."""

import sys

sys.stdout.buffer.write(b"before \xff\xfe invalid \xc3\x28 end\n")
sys.stdout.buffer.flush()
sys.stderr.buffer.write(b"stderr \x80 too\n")
sys.stderr.buffer.flush()
