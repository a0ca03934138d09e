"""Retries: a FAILED or CRASHED attempt puts the same run back to SCHEDULED "AwaitingRetry",
due after the retry delay, as Prefect does. The delay is the run's new due time in the control
plane (a timer, never a sleep), so a supervisor killed between attempts resumes the retry after
its restart: the run is simply due again.

The budget is counted from the control plane's `run_count` (attempts that reached RUNNING),
so it survives restarts too. A cancelled or shut-down run is never retried.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from supervisor.models import State, StateType
from supervisor.settings import DeploymentSettings

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


def manual_retry(by: str, now: datetime) -> State:
    """`retry RUN_ID`: a finished run made due again now, as one more attempt."""
    return State(type=StateType.SCHEDULED, name=AWAITING_RETRY, message=f"retry requested by {by}",
                 timestamp=now)
