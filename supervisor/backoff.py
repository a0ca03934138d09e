"""Capped exponential backoff for a failure streak, logged once per streak, not once per try.

tenacity computes the delays; the waiting itself is a timer message (no handler sleeps).
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import tenacity


class Backoff:
    def __init__(
        self, what: str, logger: logging.Logger, initial: float, cap: float = 30.0
    ) -> None:
        self.what = what
        self.logger = logger
        self.failures = 0
        self._wait = tenacity.wait_exponential(multiplier=initial, max=cap) + tenacity.wait_random(
            0, initial / 4
        )

    @property
    def failing(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException | str) -> float:
        """Count a failure; return how long to wait before the next try."""
        self.failures += 1
        if self.failures == 1:
            self.logger.warning("%s failed, backing off: %s", self.what, error)
        return float(self._wait(SimpleNamespace(attempt_number=self.failures)))  # type: ignore[arg-type]

    def succeeded(self) -> None:
        if self.failures:
            self.logger.warning("%s recovered after %d failed tries", self.what, self.failures)
        self.failures = 0
