"""StateReporterActor: the one writer of run states; a report is retried until it lands.

Reports go out in the order they came (so a run's RUNNING never lands after its terminal state).
A control-plane outage pauses the queue with capped backoff; nothing reported is dropped, not
even when this actor dies of a bug (its queue goes back to the root for its restarted self).
Each report carries an idempotency key, so a retry after a lost answer cannot apply twice.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import pykka

from actors.base import STATE_REPORTER, SupervisedActor
from actors.messages import Drain, Drained, Forward, ReportState, StateReported
from actors.timers import TimerHandle
from supervisor.backoff import Backoff
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable

logger = logging.getLogger("supervisor.reports")


@dataclass(frozen=True)
class _Retry:
    pass


class StateReporterActor(SupervisedActor):
    kind = "state-reporter"

    def started(self) -> None:
        self._queue: deque[ReportState] = deque()
        self._retry: TimerHandle | None = None
        initial = min(1.0, self.ctx.settings.supervisor.poll_interval)
        self._backoff = Backoff("reporting run states", logger, initial=initial, cap=10.0)
        self._drain: Drain | None = None
        self._drain_deadline = 0.0

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """Died of a bug: the root restarts us; what we held, and what waits in our inbox
        (pykka drops a dead actor's inbox), goes back to it for the new one."""
        super().on_failure(exception_type, exception_value, traceback)
        while self._queue:
            self.parent.tell(Forward(STATE_REPORTER, self._queue.popleft()))  # type: ignore[union-attr]
        while not self.actor_inbox.empty():  # only this thread takes from it
            message = self.actor_inbox.get().message
            if not isinstance(message, _Retry):
                self.parent.tell(Forward(STATE_REPORTER, message))  # type: ignore[union-attr]

    def stopping(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
        if self._queue:
            logger.error(
                "%d state reports could not be delivered before shutdown: %s",
                len(self._queue),
                ", ".join(f"{r.run_id} {r.state.type}" for r in self._queue),
            )

    def on_receive(self, message: Any) -> None:
        match message:
            case ReportState():
                self._queue.append(message)
                if self._retry is None:
                    self._flush()
            case _Retry():
                self._retry = None
                self._flush()
            case Drain():
                self._drain = message
                self._drain_deadline = self.ctx.clock.monotonic() + message.within
                if self._retry is not None:  # try once more now rather than at the backoff
                    self._retry.cancel()
                    self._retry = None
                self._flush()
        self._answer_drain()

    def _answer_drain(self) -> None:
        if self._drain is None:
            return
        if self._queue and self.ctx.clock.monotonic() < self._drain_deadline:
            return
        with contextlib.suppress(pykka.ActorDeadError):
            self._drain.reply_to.tell(Drained(len(self._queue)))
        self._drain = None

    def _flush(self) -> None:
        while self._queue:
            report = self._queue[0]
            try:
                result = self.ctx.control_plane.set_state(
                    report.run_id,
                    report.state,
                    idempotency_key=report.idempotency_key,
                    pid=report.pid,
                    exit_code=report.exit_code,
                    commit=report.commit,
                    scheduled_time=report.scheduled_time,
                )
            except ControlPlaneUnavailable as exc:
                self.ctx.outage.failed(self.name, self.ctx.clock.now())
                delay = self._backoff.failed(exc)
                self.ctx.board.update(self.name, last_error=str(exc), failing=True)
                self.ctx.board.own(self.name, pending=len(self._queue))
                self._retry = self.tell_later(delay, _Retry())
                return
            except ControlPlaneError as exc:  # not retryable: say so and go on with the rest
                logger.error(
                    "state report %s for run %s refused: %s", report.state.type, report.run_id, exc
                )
                self._queue.popleft()
                continue
            self._queue.popleft()
            self.ctx.outage.succeeded(self.name)
            if self._backoff.failing:
                self._backoff.succeeded()
                self.ctx.board.update(self.name, failing=False)
            self.ctx.board.own(self.name, pending=len(self._queue))
            if report.reply_to is not None:
                with contextlib.suppress(pykka.ActorDeadError):
                    report.reply_to.tell(StateReported(report.run_id, report.state, result))
