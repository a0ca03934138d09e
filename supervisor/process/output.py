"""A run's merged stdout+stderr: read on the shared pump thread, split into bounded lines.

Memory per run is bounded (one read plus at most MAX_LINE pending characters); a flood is
throttled by the pipe itself, since the child blocks while the pump is busy. Bytes that are not
UTF-8 become U+FFFD. An escaped holder of the pipe cannot hang anything: the owner closes the
read end (`force_close`) once the tree is ended and a short drain has passed.
"""

from __future__ import annotations

import codecs
import logging
import os
from collections.abc import Callable
from typing import IO

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
        log_file: IO[str] | None,
        on_line: Callable[[str], None] | None,
        on_closed: Callable[[], None],
    ) -> None:
        self._pipe = pipe
        self._fd = pipe.fileno()
        self._pump = pump
        self._log_file = log_file
        self._on_line = on_line
        self._on_closed = on_closed
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial = ""
        self.closed = False
        os.set_blocking(self._fd, False)

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
        if self._log_file is not None:
            self._log_file.flush()
        return len(data)

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
        if self._log_file is not None:
            self._log_file.write(line + "\n")
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
        self._pipe.close()
        if self._log_file is not None:
            try:
                self._log_file.close()
            except OSError as error:
                log.warning("closing a run's log failed: %s", error)
        self._on_closed()
