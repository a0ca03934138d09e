"""Schedules: the slots of an interval, cron or rrule schedule, in the deployment's timezone.

croniter parses cron and python-dateutil parses rrule (RFC 5545); nothing is hand-parsed.

Behaviour across DST (chosen so that no slot runs twice and no day goes missing):

- **interval** schedules step in real (UTC) time from their anchor: DST does not move them.
- **cron** and **rrule** schedules run on local *wall* time, each wall time at most once:
  - a wall time skipped by spring-forward (02:30 in Europe/Berlin on the last Sunday of March)
    is shifted forward by the gap (runs at 03:30 local); if the schedule also has a slot at that
    shifted time, the two are one slot — a daily 02:30 job runs once that day, never zero times;
  - a wall time repeated by fall-back (01:30 in America/New_York on the first Sunday of
    November) runs at its first occurrence only (fold=0). An hourly job therefore runs at 01:30
    EDT and next at 02:30 EST, two real hours later: no duplicate, as cron does.

Slots are returned as aware UTC datetimes, oldest first.
"""

from __future__ import annotations

import heapq
import math
import re
import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supervisor.settings import DeploymentSettings

_MARGIN = timedelta(hours=3)
"""More than any DST gap or overlap: wall times are read this far around a window so a slot
shifted by a gap is neither missed at a window edge nor yielded out of order."""

_FAR = datetime(9000, 1, 1, tzinfo=UTC)


def validate_schedule(deployment: DeploymentSettings) -> None:
    """Raise ValueError naming the field and value of a schedule that is invalid or never fires."""
    if deployment.cron is not None:
        from croniter import croniter

        fields = deployment.cron.split()
        if len(fields) != 5 or not croniter.is_valid(deployment.cron):
            raise ValueError(f"cron: {deployment.cron!r} is not a valid 5-field cron expression")
        if next_slot(deployment, datetime(2000, 1, 1, tzinfo=UTC)) is None:
            raise ValueError(f"cron: {deployment.cron!r} never fires")
    if deployment.anchor is not None:
        try:
            datetime.fromisoformat(deployment.anchor)
        except ValueError:
            raise ValueError(f"anchor: {deployment.anchor!r} is not an ISO-8601 time") from None
    if deployment.rrule is not None:
        _validate_rrule(deployment)


def _validate_rrule(deployment: DeploymentSettings) -> None:
    text = deployment.rrule or ""
    if "DTSTART" in text.upper():
        raise ValueError(f"rrule: {text!r} must not set DTSTART (use `anchor` for the start)")
    if re.search(r"\bINTERVAL=0+\b", text.upper()):
        raise ValueError(f"rrule: INTERVAL must be at least 1 (dateutil never ends on 0), "
                         f"got {text!r}")
    if deployment.anchor is None and any("COUNT" in _rule_parts(line) for line in _rules(text)):
        raise ValueError(
            f"rrule: COUNT counts from the `anchor`: set one (e.g. anchor = "
            f'"2026-01-01T09:00"), got {text!r}'
        )
    tz = zoneinfo.ZoneInfo(deployment.timezone)
    try:
        _rrule(text, datetime(2000, 1, 1), tz)
    except TypeError:  # dateutil's rrule() called without its `freq` argument
        raise ValueError(
            f"rrule: {text!r} is not a valid rrule: every rule needs FREQ= (e.g. FREQ=DAILY)"
        ) from None
    except ValueError as exc:
        reason = str(exc) if "unpack" not in str(exc) else "a rule line is empty or malformed"
        raise ValueError(f"rrule: {text!r} is not a valid rrule: {reason}") from None
    if next_slot(deployment, datetime(2000, 1, 1, tzinfo=UTC)) is None:
        raise ValueError(f"rrule: {text!r} never fires")


def describe(deployment: DeploymentSettings) -> str | None:
    """One line for people: "every 60s", "cron */5 * * * * (UTC)"."""
    if deployment.interval is not None:
        return f"every {deployment.interval:g}s"
    if deployment.cron is not None:
        return f"cron {deployment.cron} ({deployment.timezone})"
    if deployment.rrule is not None:
        return f"rrule {deployment.rrule} ({deployment.timezone})"
    return None


def slots(deployment: DeploymentSettings, after: datetime, until: datetime) -> Iterator[datetime]:
    """Slots strictly after `after` and at or before `until`, oldest first, as aware UTC times."""
    after, until = after.astimezone(UTC), until.astimezone(UTC)
    tz = zoneinfo.ZoneInfo(deployment.timezone)
    if deployment.interval is not None:
        yield from _interval_slots(deployment, tz, after, until)
        return
    margin = _margin(tz, after, until)
    wall = _wall_times(deployment, tz, _naive(after - margin, tz))
    if wall is None:
        return
    # Wall times are increasing; their instants may step back by at most a DST gap, so an
    # instant is final once the wall clock has moved more than the margin past it.
    pending: list[datetime] = []
    last: datetime | None = None
    for naive in wall:
        instant = _localize(naive, tz).astimezone(UTC)
        if instant > after:
            heapq.heappush(pending, instant)
        horizon = instant - margin
        while pending and pending[0] < horizon:
            slot = heapq.heappop(pending)
            if slot > until:
                return
            if slot != last:
                last = slot
                yield slot
        if horizon > until:
            break
    while pending:
        slot = heapq.heappop(pending)
        if slot > until:
            return
        if slot != last:
            last = slot
            yield slot


def next_slot(deployment: DeploymentSettings, after: datetime) -> datetime | None:
    """The first slot strictly after `after`, or None if the schedule never fires again."""
    soon = next(slots(deployment, after, after + timedelta(days=1)), None)
    return soon if soon is not None else next(slots(deployment, after, _FAR), None)


def _margin(tz: zoneinfo.ZoneInfo, after: datetime, until: datetime) -> timedelta:
    """No margin for a short window the zone's UTC offset does not change around (nearly every
    read: a minutely cron then costs a few steps, not three hours of them)."""
    if until - after > timedelta(days=7):
        return _MARGIN
    day = timedelta(days=1)
    probes = (after - day, after, after + (until - after) / 2, until, until + day)
    return timedelta(0) if len({p.astimezone(tz).utcoffset() for p in probes}) == 1 else _MARGIN


def _naive(instant: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    return instant.astimezone(tz).replace(tzinfo=None)


def _wall_times(
    deployment: DeploymentSettings, tz: zoneinfo.ZoneInfo, start: datetime
) -> Iterator[datetime] | None:
    """Naive local wall times of a cron or rrule schedule strictly after `start`."""
    if deployment.cron is not None:
        return _cron_wall_times(deployment.cron, start)
    if deployment.rrule is not None:
        rule = _rrule(deployment.rrule, _rrule_start(deployment, tz, start), tz)
        return iter(rule.xafter(start, inc=False))
    return None


def _cron_wall_times(expression: str, start: datetime) -> Iterator[datetime]:
    from croniter import CroniterBadDateError, croniter

    it = croniter(expression, start)
    while True:
        try:
            yield it.get_next(datetime)
        except CroniterBadDateError:  # e.g. "0 0 30 2 *": no such date
            return


_UTC_TIME = re.compile(r"(\d{8}T\d{6})Z", re.IGNORECASE)


def _rrule(text: str, dtstart: datetime, tz: zoneinfo.ZoneInfo) -> Any:
    """dateutil's rule (or rule set) on naive wall times in `tz`: UTC times in the text
    (`UNTIL=…Z`, as RFC 5545 wants with a zoned start; `EXDATE:…Z`) become wall times too."""
    from dateutil.rrule import rrulestr

    def wall(match: re.Match[str]) -> str:
        instant = datetime.strptime(match[1], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
        return instant.astimezone(tz).strftime("%Y%m%dT%H%M%S")

    return rrulestr(_UTC_TIME.sub(wall, text), dtstart=dtstart, cache=False)


def _rules(text: str) -> list[str]:
    """The RRULE lines of a rule string (a bare rule is one line)."""
    lines = [ln.strip() for ln in text.upper().splitlines() if ln.strip()]
    return [ln.removeprefix("RRULE:") for ln in lines if ln.startswith("RRULE:") or ":" not in ln]


def _rule_parts(rule: str) -> dict[str, str]:
    return dict(p.split("=", 1) for p in rule.split(";") if "=" in p)


_FREQ_STEPS = {"WEEKLY": timedelta(weeks=1), "DAILY": timedelta(days=1),
               "HOURLY": timedelta(hours=1), "MINUTELY": timedelta(minutes=1),
               "SECONDLY": timedelta(seconds=1)}


def _rrule_start(
    deployment: DeploymentSettings, tz: zoneinfo.ZoneInfo, start: datetime
) -> datetime:
    """The rule's wall-clock DTSTART: the anchor if given, else midnight of 2000-01-01 — moved
    forward by whole periods to just before `start`, so the phase of INTERVAL=n is stable and
    a minutely rule does not iterate from 2000. Rules with COUNT keep their true start."""
    if deployment.anchor:
        anchor = datetime.fromisoformat(deployment.anchor)
        if anchor.tzinfo is not None:
            anchor = anchor.astimezone(tz).replace(tzinfo=None)
    else:
        anchor = datetime(2000, 1, 1)
    periods = [_period(_rule_parts(rule)) for rule in _rules(deployment.rrule or "")]
    if not periods or None in periods or anchor >= start:
        return anchor
    # Every rule keeps its phase only if DTSTART moves by a multiple of each rule's period.
    seconds = math.lcm(*(int(p.total_seconds()) for p in periods if p is not None))
    period = timedelta(seconds=seconds)
    return anchor + ((start - anchor) // period) * period


def _period(parts: dict[str, str]) -> timedelta | None:
    """A rule's fixed period, or None (monthly and yearly ones, and COUNT, keep the anchor)."""
    step = _FREQ_STEPS.get(parts.get("FREQ", ""))
    if step is None or "COUNT" in parts:
        return None
    interval = parts.get("INTERVAL", "1")
    return step * int(interval) if interval.isdigit() and int(interval) > 0 else None


def _interval_slots(
    deployment: DeploymentSettings, tz: zoneinfo.ZoneInfo, after: datetime, until: datetime
) -> Iterator[datetime]:
    """Real-time steps; the anchor (default 2000-01-01 UTC) fixes the phase, not the start."""
    step = timedelta(seconds=deployment.interval or 0)
    if deployment.anchor:
        anchor = datetime.fromisoformat(deployment.anchor)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=tz)
    else:
        anchor = datetime(2000, 1, 1, tzinfo=UTC)
    anchor = anchor.astimezone(UTC)
    slot = anchor + ((after - anchor) // step) * step
    while slot <= after:
        slot += step
    while slot <= until:
        yield slot
        slot += step


def _localize(naive: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """Wall time → aware time. A time skipped by DST moves forward by the gap (fold=0 reads it
    with the offset before the change); a repeated one takes its first occurrence (fold=0)."""
    return naive.replace(tzinfo=tz, fold=0)
