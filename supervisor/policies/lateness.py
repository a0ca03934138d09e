"""Late runs: how late a run starts, whether that counts as "Late", and the catch-up cap.

`late_after` only names and counts (the control planes show a SCHEDULED run past it as "Late");
`skip_late_after` acts: a run claimed that late is CANCELLED "skipped: missed by …" instead of
run, so a supervisor back after hours of downtime runs no backlog. The check is made after the
claim, so no other supervisor's run is ever touched.
"""

from __future__ import annotations

from datetime import datetime

from supervisor.controlplane.rules import LATE_AFTER
from supervisor.models import Run
from supervisor.settings import DeploymentSettings


def seconds_late(run: Run, now: datetime) -> float:
    return (now - run.scheduled_time).total_seconds()


def is_late(deployment: DeploymentSettings, run: Run, now: datetime) -> bool:
    limit = deployment.late_after
    return seconds_late(run, now) > (LATE_AFTER.total_seconds() if limit is None else limit)


def skip_message(deployment: DeploymentSettings, run: Run, now: datetime) -> str | None:
    """Why this run is skipped rather than run, or None to run it."""
    limit = deployment.skip_late_after
    late = seconds_late(run, now)
    if limit is None or late <= limit:
        return None
    return f"skipped: missed by {_duration(late)} (skip_late_after = {limit:g}s)"


def _duration(seconds: float) -> str:
    """3h 0m, 12m 5s, 42s."""
    whole = int(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"
