"""Orchestration rules shared by the adapters that keep their own state (local, memory).

Pure functions of the current state and the proposal, so both adapters answer alike and the
contract suite checks one set of rules (see the port's docstring).
"""

from __future__ import annotations

import itertools
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from supervisor.models import OrchestrationResult, OrchestrationStatus, State, StateType
from supervisor.schedules import next_slot, slots
from supervisor.settings import DeploymentSettings

LATE_AFTER = timedelta(seconds=15)
"""A SCHEDULED run this far past its time is shown as "Late" (Prefect's default threshold)."""

MAX_SLOTS_PER_READ = 1000
"""At most this many schedule slots are materialised per deployment and read (bounded work
after a long outage; the rest follow on the next read)."""


def utc(value: datetime) -> datetime:
    """An aware UTC datetime (a naive one is taken to be UTC already)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def decide(current: StateType, proposed: StateType, force: bool) -> tuple[OrchestrationStatus, str]:
    """ACCEPT or ABORT (with a reason) for a proposal of `proposed` on a run in `current`."""
    if force:
        return OrchestrationStatus.ACCEPT, ""
    if current.is_terminal:
        return OrchestrationStatus.ABORT, f"run is already {current.value}"
    if proposed is StateType.PENDING and current is not StateType.SCHEDULED:
        return OrchestrationStatus.ABORT, f"run cannot be claimed: it is {current.value}"
    if proposed is StateType.RUNNING and current is StateType.CANCELLING:
        return OrchestrationStatus.ABORT, "run was cancelled before it started"
    return OrchestrationStatus.ACCEPT, ""


CONCURRENCY_WAIT = 0.25
"""s a claim refused by a deployment's concurrency limit ("enqueue") is told to wait. Short: the
common case is a run of this same supervisor whose end is still being reported (milliseconds);
the rare one, another process's run, costs a claim (one small write) per wait."""


def over_concurrency(
    deployment: DeploymentSettings, in_flight: int
) -> tuple[OrchestrationStatus, str, float | None] | None:
    """For a claim (SCHEDULED -> PENDING) while `in_flight` runs of the deployment are PENDING,
    RUNNING or CANCELLING: None when within its `concurrency`; else WAIT ("enqueue") or ABORT
    ("cancel-new": the run is to be CANCELLED), with the reason and the delay. This makes the
    limit hold across every process sharing the control plane, as Prefect 3's server does."""
    limit = deployment.concurrency
    if limit is None or in_flight < limit:
        return None
    reason = (f"deployment {deployment.name} is at its concurrency limit "
              f"({in_flight} of {limit} running)")
    if deployment.collision == "cancel-new":
        return OrchestrationStatus.ABORT, f"cancelled: {reason}", None
    return OrchestrationStatus.WAIT, reason, CONCURRENCY_WAIT


def run_updates(
    state: State,
    *,
    supervisor: str | None,
    pid: int | None,
    exit_code: int | None,
    commit: str | None,
    scheduled_time: datetime | None = None,
    run_count: int = 0,
) -> dict[str, Any]:
    """The run fields an accepted `state` sets (see `ControlPlane.set_state`); `run_count` is
    the run's count before it."""
    updates: dict[str, Any] = {}
    if state.type is StateType.PENDING and supervisor is not None:
        updates["supervisor"] = supervisor
    if state.type is StateType.RUNNING:
        updates["start_time"] = utc(state.timestamp)
        updates["run_count"] = run_count + 1
    if state.type is StateType.SCHEDULED and scheduled_time is not None:
        updates["scheduled_time"] = utc(scheduled_time)
    if state.type.is_terminal:
        updates["end_time"] = utc(state.timestamp)
    for key, value in (("pid", pid), ("exit_code", exit_code), ("commit", commit)):
        if value is not None:
            updates[key] = value
    return updates


def cancel_target(current: StateType) -> StateType | None:
    """What `request_cancel` moves a run in `current` to, or None to leave it as it is."""
    if current in (StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED):
        return StateType.CANCELLED
    if current is StateType.RUNNING:
        return StateType.CANCELLING
    return None


def shown_state(
    state: State, scheduled_time: datetime, now: datetime, late_after: float | None = None
) -> State:
    """The state as read: a SCHEDULED run past its time by more than the deployment's
    `late_after` (default LATE_AFTER) is named "Late"."""
    threshold = LATE_AFTER if late_after is None else timedelta(seconds=late_after)
    if (
        state.type is StateType.SCHEDULED
        and state.name == StateType.SCHEDULED.default_name
        and scheduled_time + threshold < now
    ):
        return state.model_copy(update={"name": "Late"})
    return state


def result(status: OrchestrationStatus, state: State, reason: str = "") -> OrchestrationResult:
    return OrchestrationResult(status=status, state=state, reason=reason)


def schedule_key(deployment: DeploymentSettings) -> str:
    """The schedule fields as canonical JSON: a change means the future slots are dropped."""
    fields = ("interval", "anchor", "cron", "rrule", "timezone")
    return json.dumps({key: getattr(deployment, key) for key in fields}, sort_keys=True)


def plan_slots(
    deployment: DeploymentSettings, cursor: datetime, until: datetime
) -> tuple[list[datetime], datetime, datetime | None]:
    """Slots to materialise in (cursor, until] (at most MAX_SLOTS_PER_READ), the new cursor,
    and the first slot after that cursor (None: the schedule never fires again)."""
    new = list(itertools.islice(slots(deployment, cursor, until), MAX_SLOTS_PER_READ))
    new_cursor = new[-1] if len(new) == MAX_SLOTS_PER_READ else max(cursor, utc(until))
    return new, new_cursor, next_slot(deployment, new_cursor)


CATCH_UP_WINDOW = timedelta(days=7)
"""How far back `missed_slot` looks (a weekly job missed during a reboot still runs)."""
_CATCH_UP_STEPS = 200_000


def missed_slot(deployment: DeploymentSettings, cursor: datetime, now: datetime) -> datetime | None:
    """At registration (a supervisor start): the latest slot in (cursor, now] that nobody
    materialised while no process read the schedule, or None. Missed slots coalesce into this
    one late run: a reboot at 01:59 does not lose a daily 02:00 job, and a day of downtime does
    not queue 1440 runs of a minutely one. Slots older than CATCH_UP_WINDOW are dropped."""
    start = max(cursor, now - CATCH_UP_WINDOW)
    last = None
    for slot in itertools.islice(slots(deployment, start, now), _CATCH_UP_STEPS):
        last = slot
    return last
