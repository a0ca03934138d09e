"""The base of the two pollers: one control-plane read per tick, and what a failed read does.

A failed read never kills a poller: it counts in the metrics, shows on the board, and the next
tick comes after a capped backoff (logged once per failure streak, not once per tick).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from actors.base import SupervisedActor
from actors.messages import Tick
from supervisor.backoff import Backoff
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable

T = TypeVar("T")


class PollerActor(SupervisedActor):
    what = "polling"
    """What a read does, for the log: "reading scheduled runs"."""

    def interval(self) -> float:
        raise NotImplementedError

    def started(self) -> None:
        logger = logging.getLogger(f"supervisor.{self.kind}")
        self._backoff = Backoff(self.what, logger, initial=self.interval())
        self.actor_ref.tell(Tick())

    def read(self, fetch: Callable[[], T]) -> T | None:
        """`fetch()`'s result, or None when the control plane failed (then `retry_in` is set)."""
        clock = self.ctx.clock
        started = clock.monotonic()
        self.retry_in: float | None = None
        self.ctx.outage.calling(self.name, clock.now())
        try:
            result = fetch()
        except ControlPlaneError as exc:
            if isinstance(exc, ControlPlaneUnavailable):
                self.ctx.outage.failed(self.name, clock.now())
            self.ctx.metrics.poll_errors.labels(self.kind).inc()
            self.ctx.board.update(self.name, last_error=str(exc), failing=True)
            self.retry_in = self._backoff.failed(exc)
            return None
        finally:
            self.ctx.outage.returned(self.name)
        self.ctx.metrics.poll_seconds.labels(self.kind).observe(clock.monotonic() - started)
        self.ctx.outage.succeeded(self.name)
        if self._backoff.failing:
            self._backoff.succeeded()
            self.ctx.board.update(self.name, failing=False)
        self.ticked()
        return result

    def rearm(self, jitter: float = 0.0) -> None:
        """The next tick: after the interval, or after the backoff if the last read failed."""
        self.arm_tick(self.retry_in if self.retry_in is not None else self.interval(), jitter)

    def on_receive(self, message: Any) -> None:
        raise NotImplementedError
