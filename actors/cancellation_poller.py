"""CancellationPollerActor: the safety net for cancels; the fast path is a nudge (`PollNow`).

Each tick asks the control plane which in-flight runs are CANCELLING and tells the root, which
routes the cancel to the run's actor. The root keeps this actor's view of in-flight runs current.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

from actors.base import SupervisedActor
from actors.messages import CancelRequested, InFlightChanged, PollNow, Tick
from supervisor.backoff import Backoff
from supervisor.errors import ControlPlaneError

logger = logging.getLogger("supervisor.cancellation")


class CancellationPollerActor(SupervisedActor):
    kind = "cancellation-poller"

    def started(self) -> None:
        self._in_flight: frozenset[uuid.UUID] = frozenset()
        interval = self.ctx.settings.supervisor.cancel_poll_interval
        self._backoff = Backoff("reading cancellation requests", logger, initial=interval)
        self.actor_ref.tell(Tick())

    def on_receive(self, message: Any) -> None:
        match message:
            case InFlightChanged(run_ids=run_ids):
                self._in_flight = run_ids
                self.ctx.board.own(self.name, watching=len(run_ids))
            case Tick():
                delay = self._poll()
                interval = self.ctx.settings.supervisor.cancel_poll_interval
                self.arm_tick(delay if delay is not None else interval)
            case PollNow():
                self._poll()

    def _poll(self) -> float | None:
        clock = self.ctx.clock
        started = clock.monotonic()
        try:
            runs = (
                self.ctx.control_plane.read_cancelling_runs(self._in_flight)
                if self._in_flight
                else []
            )
        except ControlPlaneError as exc:
            self.ctx.metrics.poll_errors.labels(self.kind).inc()
            self.ctx.board.update(self.name, last_error=str(exc), failing=True)
            return self._backoff.failed(exc)
        self.ctx.metrics.poll_seconds.labels(self.kind).observe(clock.monotonic() - started)
        if self._backoff.failing:
            self._backoff.succeeded()
            self.ctx.board.update(self.name, failing=False)
        self.ticked()
        for run in runs:
            by = "a control-plane cancel request"
            self.parent.tell(CancelRequested(run.id, by))  # type: ignore[union-attr]
        return None
