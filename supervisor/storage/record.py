"""What a puller knows about its pulls (what the ops surface shows), and when it pulls next.

Periodic pulls come every `pull_interval` plus up to 10 % jitter (pullers of many storages do not
hit their remotes in step). After a failure the retry waits 1, 2, 4 … s (tenacity's exponential
wait), capped at the pull interval and at 5 minutes.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tenacity import RetryCallState, wait_exponential

BACKOFF_CAP = 300.0
JITTER = 0.1


def backoff(failures: int, interval: float) -> float:
    """Delay before retry number `failures`: 1, 2, 4 … s, capped at min(interval, 300 s)."""
    cap = min(max(interval, 1.0), BACKOFF_CAP)
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # only the count is read
    state.attempt_number = failures
    return float(wait_exponential(multiplier=1, min=min(1.0, cap), max=cap)(state))


@dataclass
class PullRecord:
    interval: float
    pinned: bool
    current: str | None = None
    """sha of the newest good snapshot."""
    pulled_at: float | None = None
    """monotonic s of the last good pull (None: not yet, in this incarnation)."""
    last_pull: datetime | None = None
    next_pull: datetime | None = None
    failures: int = 0
    """Consecutive failed pulls."""
    last_error: str | None = None

    def is_recent(self, monotonic: float) -> bool:
        """Whether the current commit may be used without pulling first."""
        if self.pinned:
            return True
        return self.pulled_at is not None and monotonic - self.pulled_at < self.interval

    def succeeded(self, sha: str, monotonic: float, now: datetime) -> float | None:
        """Record a good pull; return the delay until the next one (None: pinned, no more)."""
        self.current, self.pulled_at, self.last_pull = sha, monotonic, now
        self.failures, self.last_error = 0, None
        delay = None if self.pinned else self.interval * (1 + random.uniform(0, JITTER))
        self.next_pull = None if delay is None else now + timedelta(seconds=delay)
        return delay

    def failed(self, error: str, now: datetime) -> float:
        """Record a failed pull; return the delay until the retry."""
        self.failures += 1
        self.last_error = error
        delay = backoff(self.failures, self.interval)
        self.next_pull = now + timedelta(seconds=delay)
        return delay

    def board(self) -> dict[str, Any]:
        return {
            "commit": self.current,
            "last_pull": self.last_pull,
            "last_error": self.last_error,
            "next_pull": self.next_pull,
            "failures": self.failures,
        }
