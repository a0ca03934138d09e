"""Messages between actors: immutable values. Commands are imperative, events past tense.

pykka does not copy what it delivers, so every field is immutable (tuples, frozen models, str).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pykka

    from actors.identity import ActorId
    from supervisor.models import OrchestrationResult, Run, State
    from supervisor.process import ExitResult, RunProcess


# --- time and supervision -------------------------------------------------------------------------


@dataclass(frozen=True)
class Tick:
    """A timer fired: do the periodic work, then re-arm."""


@dataclass(frozen=True)
class PollNow:
    """A nudge (CLI `run`/`cancel`, ops API): poll at once instead of at the next tick."""


@dataclass(frozen=True)
class ChildFailed:
    """A child actor died: an exception escaped a handler (`during="handler"`) or on_start."""

    actor: ActorId
    error: str
    during: str
    handed_back: tuple[Any, ...] = ()
    """Messages for its restarted self, oldest first (what it held, what waited in its inbox)."""

    @property
    def name(self) -> str:
        return str(self.actor)


# --- scheduling -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDue:
    """The schedule poller hands the root a run whose scheduled time has come."""

    run: Run


@dataclass(frozen=True)
class InFlightChanged:
    """The root tells the cancellation poller which runs are in flight now."""

    run_ids: frozenset[uuid.UUID]


@dataclass(frozen=True)
class CancelRequested:
    """The control plane (or the ops API) asked for these runs to be cancelled."""

    run_id: uuid.UUID
    by: str


# --- one run --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CancelRun:
    """End the run's tree with the deployment's grace and report CANCELLED."""

    by: str
    shutdown: bool = False
    grace: float | None = None
    """None: the deployment's kill grace; 0: kill at once."""


@dataclass(frozen=True)
class ProcessStarted:
    """The run's process is executing (the process layer's handle travels with it)."""

    run_id: uuid.UUID
    process: RunProcess


@dataclass(frozen=True)
class ProcessExited:
    """The run's main process was reaped and its whole tree verified gone."""

    run_id: uuid.UUID
    result: ExitResult


@dataclass(frozen=True)
class TimeoutReached:
    """The deployment's timeout elapsed."""


@dataclass(frozen=True)
class RunFinished:
    """A run actor is done: its tree is reaped, so its slot is free."""

    run_id: uuid.UUID
    state: State | None
    """The terminal state it reported (None: nothing was started, e.g. the claim was aborted)."""


# --- state reports --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportState:
    """Propose a state; retried until it lands. The key makes a retry idempotent."""

    run_id: uuid.UUID
    state: State
    idempotency_key: str
    reply_to: pykka.ActorRef[Any] | None = None
    pid: int | None = None
    exit_code: int | None = None
    commit: str | None = None
    engine: bool = False
    """Prefect's engine reports this run's states: see `supervisor.runkind.report_engine_run`."""
    scheduled_time: datetime | None = None
    """With a SCHEDULED state (a retry): when the run is due again."""


@dataclass(frozen=True)
class Drain:
    """Shutdown: deliver what is queued (retrying for up to `within` s), then reply Drained."""

    reply_to: pykka.ActorRef[Any]
    within: float = 10.0


@dataclass(frozen=True)
class Drained:
    undelivered: int


@dataclass(frozen=True)
class StateReported:
    """The control plane answered a ReportState."""

    run_id: uuid.UUID
    state: State
    result: OrchestrationResult


# --- storage --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PrepareCheckout:
    """A run needs its code: reply CheckoutReady or CheckoutFailed to `reply_to`.

    The puller pulls first when its last pull is older than the pull interval.
    """

    run_id: uuid.UUID
    reply_to: pykka.ActorRef[Any]


@dataclass(frozen=True)
class CheckoutReady:
    """A complete checkout of one commit, not changed by later pulls until released."""

    run_id: uuid.UUID
    path: str
    commit: str | None


@dataclass(frozen=True)
class CheckoutFailed:
    run_id: uuid.UUID
    message: str


@dataclass(frozen=True)
class ReleaseCheckout:
    """The run is over: its checkout may be removed once no other run uses it."""

    run_id: uuid.UUID


# --- the whole system -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Shutdown:
    """Stop polling, end every run's tree (after up to `drain` s of letting them finish), stop.

    `immediate`: a second signal; kill every tree now, no grace.
    """

    drain: float = 0.0
    immediate: bool = False
