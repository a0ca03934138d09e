"""A live supervisor's health, judged from the status board: the answer of `GET /health`.

Unhealthy when a poller is missing, not running, failing or has not ticked in three intervals;
through a control-plane outage, one steady answer (since when, how many reports queued) whatever
the retries do meanwhile.
"""

from __future__ import annotations

from datetime import datetime

from actors.base import CANCELLATION_POLLER, SCHEDULE_POLLER, STATE_REPORTER, SystemContext
from actors.board import StatusBoard
from supervisor.settings import Settings


def judge(
    board: StatusBoard, settings: Settings, ctx: SystemContext | None, *, polls_schedules: bool
) -> tuple[bool, str]:
    sup = settings.supervisor
    intervals = {CANCELLATION_POLLER: sup.cancel_poll_interval}
    if polls_schedules:
        intervals[SCHEDULE_POLLER] = sup.poll_interval
    now = ctx.clock.now() if ctx else None
    reporter = board.get(STATE_REPORTER)
    queued = int((reporter["owns"].get("pending") if reporter else None) or 0)
    since = ctx.outage.since(queued) if ctx else None
    if since is not None:
        return False, _unavailable(since, queued)
    problems, stale = [], []
    for name, interval in intervals.items():
        entry = board.get(name)
        if entry is None:
            problems.append(f"{name} has not started")
        elif entry["state"] != "running":
            problems.append(f"{name} is {entry['state']}")
        elif entry.get("failing"):
            problems.append(f"{name} cannot reach the control plane: {entry['last_error']}")
        elif entry["last_tick"] is None or (
            now is not None and (now - entry["last_tick"]).total_seconds() > 3 * interval + 5
        ):
            stale.append(name)
            problems.append(f"{name} has not ticked recently")
    waiting = ctx.outage.waiting_since() if ctx else None
    if stale and len(stale) == len(problems) and waiting is not None:
        return False, _unavailable(waiting, queued)  # stale because a call hangs
    return (not problems, "; ".join(problems) or "ok")


def _unavailable(since: datetime, queued: int) -> str:
    when = f"{since:%Y-%m-%d %H:%M:%S}Z"
    return f"control plane unavailable since {when}, {queued} reports queued"
