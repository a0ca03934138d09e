"""One injectable clock: monotonic seconds for deadlines, aware UTC datetimes for timestamps.

Actors and timers take a `Clock`; unit tests pass a `FakeClock` and move time by hand.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta


class Clock:
    """The real clock."""

    def monotonic(self) -> float:
        return time.monotonic()

    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock(Clock):
    """A clock that only moves when told; `now()` and `monotonic()` move together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._lock = threading.Lock()
        self._mono = 1000.0
        self._start_mono = self._mono
        self._start = start or datetime(2026, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        with self._lock:
            return self._mono

    def now(self) -> datetime:
        with self._lock:
            return self._start + timedelta(seconds=self._mono - self._start_mono)

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._mono += seconds
