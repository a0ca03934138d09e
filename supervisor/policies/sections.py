"""Sections of a run's log: each retry attempt and each hook starts under a header line, so
one log file tells the attempts apart (`logs RUN_ID` shows them all, in order)."""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

logger = logging.getLogger("supervisor.runs")


def start_section(path: Path, title: str, now: datetime) -> None:
    """Append `=== title (time) ===`; a log that cannot be written is the process layer's to
    report (it opens the same file next), so a failure here is only logged."""
    line = f"=== {title} ({now.isoformat(timespec='seconds')}) ===\n".encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    except OSError as exc:
        logger.warning("could not write a section header to %s: %s", path, exc)
