"""StateReporterActor: the one writer of run states; a report is retried until it lands.

Reports go out in the order they came (so a run's RUNNING never lands after its terminal state).
A control-plane outage pauses the queue with capped backoff; nothing reported is dropped, not
even when this actor dies of a bug (its queue goes to its restarted self, see `handed_back`).
Each report carries an idempotency key, so a retry after a lost answer cannot apply twice.
What arrives while reports wait in the inbox goes out as one batch (one transaction).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pykka

from actors.base import SupervisedActor
from actors.messages import Drain, Drained, ReportState, StateReported
from supervisor.backoff import Backoff
from supervisor.controlplane.batch import Outcome, Proposal, propose_all, propose_each
from supervisor.controlplane.port import ControlPlane
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable
from supervisor.models import OrchestrationResult, State
from supervisor.runkind import report_engine_run
from supervisor.timers import TimerHandle

logger = logging.getLogger("supervisor.reports")


BATCH = 500
"""Reports sent in one batch at most (one transaction holds the database's write lock)."""


_HANDED_BACK = (ReportState, Drain)
"""What a dead reporter's inbox holds for its successor (its own timers' messages it re-arms)."""


@dataclass(frozen=True)
class _Retry:
    pass


@dataclass(frozen=True)
class _Flush:
    """Send what is queued: told to ourselves behind the reports already in the inbox, so every
    report that arrived meanwhile shares one batch (a burst sent one transaction per report)."""


class StateReporterActor(SupervisedActor):
    kind = "state-reporter"

    def started(self) -> None:
        self._queue: deque[ReportState] = deque()
        self._retry: TimerHandle | None = None
        self._flush_told = False
        initial = min(1.0, self.ctx.settings.supervisor.poll_interval)
        self._backoff = Backoff("reporting run states", logger, initial=initial, cap=10.0)
        self._drain: Drain | None = None
        self._drain_deadline = 0.0

    def handed_back(self) -> tuple[Any, ...]:
        """Died of a bug: the root restarts us, and what we held, then what waits in our inbox
        (pykka drops a dead actor's inbox), goes to the new one before anything sent since."""
        held: list[Any] = list(self._queue)
        self._queue.clear()  # stopping() must not call them undelivered
        return (*held, *self.inbox_of(_HANDED_BACK))

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
                if self._retry is None and not self._flush_told:
                    self._flush_told = True
                    self.actor_ref.tell(_Flush())
            case _Flush():
                self._flush_told = False
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
        """Send everything queued as one batch (one transaction on the local adapter)."""
        while self._queue:
            batch = _leading_kind(itertools.islice(self._queue, BATCH))
            proposals = [_proposal(report) for report in batch]
            engine = batch[0].engine  # the engine reports its own states: settle them one by one
            send = _engine(self.ctx.control_plane) if engine else self.ctx.control_plane.set_state
            try:
                if engine:
                    outcomes, down = propose_each(send, proposals)
                else:
                    outcomes, down = propose_all(self.ctx.control_plane, proposals)
            except ControlPlaneUnavailable as exc:
                outcomes, down = [], exc
            except ControlPlaneError:  # the batch as a whole refused: each gets its own answer
                outcomes, down = propose_each(send, proposals)
            for report, outcome in zip(batch, outcomes, strict=False):
                self._queue.popleft()
                self._answered(report, outcome)
            if down is not None:
                self.ctx.outage.failed(self.name, self.ctx.clock.now())
                delay = self._backoff.failed(down)
                self.ctx.board.update(self.name, last_error=str(down), failing=True)
                self.ctx.board.own(self.name, pending=len(self._queue))
                self._retry = self.tell_later(delay, _Retry())
                return
        self.ctx.board.own(self.name, pending=0)

    def _answered(self, report: ReportState, outcome: Outcome) -> None:
        if isinstance(outcome, ControlPlaneError):  # not retryable: say so and go on
            logger.error(
                "state report %s for run %s refused: %s", report.state.type, report.run_id, outcome
            )
            return
        self.ctx.outage.succeeded(self.name)
        if self._backoff.failing:
            self._backoff.succeeded()
            self.ctx.board.update(self.name, failing=False)
        if report.reply_to is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                report.reply_to.tell(StateReported(report.run_id, report.state, outcome))


def _proposal(report: ReportState) -> Proposal:
    return Proposal(
        report.run_id,
        report.state,
        report.idempotency_key,
        pid=report.pid,
        exit_code=report.exit_code,
        commit=report.commit,
        scheduled_time=report.scheduled_time,
    )


def _leading_kind(reports: Iterable[ReportState]) -> list[ReportState]:
    """The queue's first reports of one kind (engine or not), in order."""
    batch: list[ReportState] = []
    for report in reports:
        if batch and report.engine != batch[0].engine:
            break
        batch.append(report)
    return batch


def _engine(control_plane: ControlPlane) -> Callable[..., OrchestrationResult]:
    """`set_state`'s shape for an engine run's reports (supervisor.runkind)."""

    def send(run_id: uuid.UUID, state: State, *, idempotency_key: str | None = None,
             **fields: Any) -> OrchestrationResult:
        return report_engine_run(control_plane, run_id, state, idempotency_key or "", **fields)

    return send
