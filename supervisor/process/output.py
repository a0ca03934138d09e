"""A run's merged stdout+stderr: read on the shared pump thread, split into bounded lines.

Memory per run is bounded (one read plus at most MAX_LINE pending characters); a flood is
throttled by the pipe itself, since the child blocks while the pump is busy. Bytes that are not
UTF-8 become U+FFFD. An escaped holder of the pipe cannot hang anything: the owner closes the
read end (`force_close`) once the tree is ended and a short drain has passed.

The log is written with one `os.write` per read. When it cannot be written (a full disk, an
I/O error) the run goes on: the pipe is still drained, the rest of the output is dropped, one
warning is logged and `truncated` says where the log was cut and why.
"""

from __future__ import annotations

import codecs
import errno
import logging
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO

from supervisor.process import descriptors
from supervisor.process.loop import EpollLoop

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
MAX_LINE = 64 * 1024  # characters; a longer line is handed on in pieces
FINAL_DRAIN = 4 * 1024 * 1024  # bytes read at most when closing while a writer is still alive


class OutputReader:
    def __init__(
        self,
        pipe: IO[bytes],
        pump: EpollLoop,
        log: LogFile | None,
        on_line: Callable[[str], None] | None,
        on_closed: Callable[[], None],
    ) -> None:
        self._pipe = pipe
        self._fd = pipe.fileno()
        self._pump = pump
        self._log = log
        self._pending = bytearray()
        self._on_line = on_line
        self._on_closed = on_closed
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self.closed = False
        os.set_blocking(self._fd, False)

    @property
    def truncated(self) -> str | None:
        """Where and why the run's log was cut, or None when it holds all the output."""
        return self._log.truncated if self._log is not None else None

    def start(self) -> None:
        self._pump.add(self._fd, self._readable)

    def force_close(self) -> None:
        """Read what is left without waiting for EOF, then close (called on the pump thread)."""
        if self.closed:
            return
        budget = FINAL_DRAIN
        while budget > 0 and not self.closed:
            budget -= self._read_once()
        self._close()

    def _readable(self, events: int) -> None:
        self._read_once()

    def _read_once(self) -> int:
        try:
            data = os.read(self._fd, READ_SIZE)
        except BlockingIOError:
            return FINAL_DRAIN  # nothing buffered now
        except OSError as error:
            log.warning("reading a run's output failed: %s", error)
            data = b""
        if not data:
            self._close()
            return 0
        self._feed(self._decoder.decode(data))
        self._write_pending()
        return len(data)

    def _write_pending(self) -> None:
        if self._log is not None and self._pending:
            self._log.write(bytes(self._pending))
        self._pending.clear()

    def _feed(self, text: str) -> None:
        text = self._partial + text
        lines = text.split("\n")
        self._partial = lines.pop()
        for line in lines:
            self._emit_long(line)
        while len(self._partial) >= MAX_LINE:
            self._emit(self._partial[:MAX_LINE])
            self._partial = self._partial[MAX_LINE:]

    def _emit_long(self, line: str) -> None:
        for start in range(0, max(len(line), 1), MAX_LINE):
            self._emit(line[start : start + MAX_LINE])

    def _emit(self, line: str) -> None:
        if line.endswith("\r"):
            line = line[:-1]
        if self._log is not None and self._log.truncated is None:
            self._pending += (line + "\n").encode("utf-8", "replace")
        if self._on_line is not None:
            try:
                self._on_line(line)
            except Exception:
                log.exception("on_output callback failed")

    def _close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._pump.remove(self._fd)
        tail = self._partial + self._decoder.decode(b"", final=True)
        self._partial = ""
        if tail:
            self._emit_long(tail)
        self._write_pending()
        self._pipe.close()
        if self._log is not None:
            self._log.close()
        self._on_closed()


class LogFile:
    """A run's log file, appended to with raw writes; never raises.

    Opened at the first output, not at the start: creating a file costs ~1.3 ms of kernel time
    on ext4, a silent run (most of a burst of short jobs) then costs none. A log that could never
    be written is still said at once: its folder is looked at (a stat, ~2 us) at the start.
    At most `descriptors.HELD` logs hold their descriptor (supervisor/process/descriptors.py);
    one that lost it is opened again at its next write. Written from the pump thread only."""

    def __init__(self, path: Path, run_id: str) -> None:
        self.path = path
        self._run_id = run_id
        self.written = 0
        self.truncated: str | None = None
        """Why and where the log was cut ("output truncated at N bytes: …"), or None."""
        self._fd: int | None = None
        self._opened = False
        try:
            if not stat.S_ISDIR(os.stat(path.parent).st_mode):
                raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR))
        except OSError as error:
            self._opened = True  # nothing to open: every write is dropped
            self._cut(error)

    def _open(self) -> None:
        first, self._opened = not self._opened, True
        try:
            self._fd = os.open(
                self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644
            )
            if first:
                self.written = os.fstat(self._fd).st_size
        except OSError as error:
            self._fd = None
            self._cut(error)

    def write(self, data: bytes) -> None:
        if self._fd is None and self.truncated is None:
            self._open()
        if self._fd is not None:
            descriptors.logs.used(self)
        view = memoryview(data)
        while view and self._fd is not None and self.truncated is None:
            try:
                count = os.write(self._fd, view)
            except OSError as error:
                self._cut(error)
                return
            self.written += count
            view = view[count:]

    def close(self) -> None:
        descriptors.logs.dropped(self)
        self.release()

    def release(self) -> None:
        """Close the descriptor; the next write opens the log again."""
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                os.close(fd)
            except OSError as error:
                self._cut(error)

    def _cut(self, error: OSError) -> None:
        if self.truncated is not None:
            return
        reason = error.strerror or str(error)
        self.truncated = f"output truncated at {self.written} bytes: {reason} ({self.path})"
        log.warning("run %s: %s; the rest of its output is dropped", self._run_id, self.truncated)


def last_line(path: Path, limit: int = 300) -> str | None:
    """The last non-blank line of a run's log (at most `limit` characters), or None."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 8192))
            tail = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = [line.strip() for line in tail.splitlines() if line.strip()]
    return lines[-1][:limit] if lines else None
