"""Retries: a FAILED or CRASHED attempt puts the same run back to SCHEDULED "AwaitingRetry",
due after the retry delay, as Prefect does. The delay is the run's new due time in the control
plane (a timer, never a sleep), so a supervisor killed between attempts resumes the retry after
its restart: the run is simply due again.

The budget is counted from the control plane's `run_count` (attempts that reached RUNNING),
so it survives restarts too. A cancelled or shut-down run is never retried.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from supervisor.errors import SupervisorError
from supervisor.models import Run, State, StateType
from supervisor.settings import DeploymentSettings

if TYPE_CHECKING:
    from supervisor.controlplane.port import ControlPlane


class RunNotFinished(SupervisorError):
    """`retry` of a run that has not ended."""

AWAITING_RETRY = "AwaitingRetry"
"""Prefect's name for a SCHEDULED state that is a retry."""

_TICK = timedelta(microseconds=1)
_RETRIED = {StateType.FAILED: "failed", StateType.CRASHED: "crashed"}


def delay_for(deployment: DeploymentSettings, retry: int) -> float:
    """Seconds before retry number `retry` (1-based); a list's last delay repeats."""
    delays = deployment.retry_delay
    if isinstance(delays, tuple):
        return delays[min(retry, len(delays)) - 1]
    return delays


def next_attempt(
    deployment: DeploymentSettings, ended: State, attempt: int, now: datetime, was_due: datetime
) -> tuple[State, datetime] | None:
    """After attempt number `attempt` (due at `was_due`) ended in `ended`: the AwaitingRetry
    state and when the run is due again, or None when it is final (succeeded, not retried, or
    out of retries). The new due time is always after `was_due`: the root tells a run's
    attempts apart by their due times."""
    kind = _RETRIED.get(ended.type)
    if kind is None or kind not in deployment.retry_on or attempt > deployment.retries:
        return None
    delay = delay_for(deployment, attempt)
    message = (f"retry {attempt} of {deployment.retries} in {delay:g}s; attempt {attempt} "
               f"{ended.name}: {ended.message}")
    state = State(type=StateType.SCHEDULED, name=AWAITING_RETRY, message=message[:2000],
                  timestamp=now)
    return state, max(now + timedelta(seconds=delay), was_due + _TICK)


def after_restart(
    deployment: DeploymentSettings | None, run: Run, ended: State, now: datetime
) -> tuple[State, datetime | None]:
    """A run a killed supervisor left in flight, which recovery ends `ended` ("supervisor
    restarted"): that state, or its retry (with when it is due) if the deployment retries a
    CRASHED run and has retries left."""
    if deployment is None or ended.type is not StateType.CRASHED:
        return ended, None
    again = next_attempt(deployment, ended, max(run.run_count, 1), now, run.scheduled_time)
    return again if again is not None else (ended, None)


def recovery_key(run: Run) -> str:
    """The idempotency key of a recovered run's report: one per attempt (a retried run may be
    left in flight again by a later crash)."""
    return f"{run.id}:recovered:{run.run_count}@{run.scheduled_time.isoformat()}"


def manual_retry(by: str, now: datetime) -> State:
    """`retry RUN_ID`: a finished run made due again now, as one more attempt."""
    return State(type=StateType.SCHEDULED, name=AWAITING_RETRY, message=f"retry requested by {by}",
                 timestamp=now)


def retry_finished(plane: ControlPlane, run_id: uuid.UUID, by: str, now: datetime) -> Run:
    """`retry RUN_ID` (CLI and ops API): a finished run due again now, with its parameters.
    Raises RunNotFound, or RunNotFinished for a run that has not ended."""
    run = plane.read_run(run_id)
    if not run.state.type.is_terminal:
        raise RunNotFinished(
            f"run {run_id} is {run.state.type.value}: only a finished run can be retried")
    result = plane.set_state(run_id, manual_retry(by, now), force=True, scheduled_time=now)
    if not result.accepted:  # forced: only a control plane's own rule can refuse it
        raise RunNotFinished(f"run {run_id} could not be retried: {result.reason}")
    return plane.read_run(run_id)
