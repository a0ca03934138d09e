"""Schedules: the slots of an interval, cron or rrule schedule, in the deployment's timezone.

croniter parses cron and python-dateutil parses rrule (RFC 5545); nothing is hand-parsed.
Slots are computed in local wall time of the timezone and returned as aware UTC datetimes.
"""

from __future__ import annotations

import zoneinfo
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor.settings import DeploymentSettings


def validate_schedule(deployment: DeploymentSettings) -> None:
    """Raise ValueError naming the field and value when a schedule cannot be parsed."""
    if deployment.cron is not None:
        from croniter import croniter

        fields = deployment.cron.split()
        if len(fields) != 5 or not croniter.is_valid(deployment.cron):
            raise ValueError(f"cron: {deployment.cron!r} is not a valid 5-field cron expression")
    if deployment.rrule is not None:
        try:
            _rrule(deployment.rrule, datetime(2000, 1, 1, tzinfo=UTC))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"rrule: {deployment.rrule!r} is not a valid rrule: {exc}") from None
    if deployment.anchor is not None:
        try:
            datetime.fromisoformat(deployment.anchor)
        except ValueError:
            raise ValueError(f"anchor: {deployment.anchor!r} is not an ISO-8601 time") from None


def _rrule(text: str, dtstart: datetime):  # type: ignore[no-untyped-def]
    from dateutil.rrule import rrulestr

    return rrulestr(text, dtstart=dtstart, cache=False)


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
    tz = zoneinfo.ZoneInfo(deployment.timezone)
    if deployment.interval is not None:
        yield from _interval_slots(deployment, tz, after, until)
    elif deployment.cron is not None:
        from croniter import croniter

        it = croniter(deployment.cron, after.astimezone(tz))
        while True:
            slot = it.get_next(datetime).astimezone(UTC)
            if slot > until:
                return
            if slot > after:
                yield slot
    elif deployment.rrule is not None:
        local_after = after.astimezone(tz).replace(tzinfo=None)
        rule = _rrule(deployment.rrule, _rrule_start(deployment, tz, local_after))
        for naive in rule.xafter(local_after, inc=False):
            slot = _localize(naive, tz).astimezone(UTC)
            if slot > until:
                return
            if slot > after:
                yield slot


def _interval_slots(
    deployment: DeploymentSettings, tz: zoneinfo.ZoneInfo, after: datetime, until: datetime
) -> Iterator[datetime]:
    step = timedelta(seconds=deployment.interval or 0)
    if deployment.anchor:
        anchor = datetime.fromisoformat(deployment.anchor)
        if anchor.tzinfo is None:
            anchor = anchor.replace(tzinfo=tz)
    else:
        anchor = datetime(2000, 1, 1, tzinfo=UTC)
    anchor = anchor.astimezone(UTC)
    count = max(0, int((after - anchor) / step))
    slot = anchor + count * step
    while slot <= after:
        slot += step
    while slot <= until:
        yield slot
        slot += step


def _rrule_start(
    deployment: DeploymentSettings, tz: zoneinfo.ZoneInfo, local_after: datetime
) -> datetime:
    """rrule wall-clock start: the anchor if given, else midnight local of a fixed early day."""
    if deployment.anchor:
        anchor = datetime.fromisoformat(deployment.anchor)
        if anchor.tzinfo is not None:
            anchor = anchor.astimezone(tz)
        return anchor.replace(tzinfo=None)
    return min(local_after, datetime(2000, 1, 1))


def _localize(naive: datetime, tz: zoneinfo.ZoneInfo) -> datetime:
    """Wall time → aware time. A time skipped by DST moves forward by the gap; a repeated one
    takes its first occurrence (fold=0), as cron implementations do."""
    aware = naive.replace(tzinfo=tz)
    roundtrip = aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if roundtrip != naive:  # nonexistent wall time: shift by the DST gap
        return naive.replace(tzinfo=tz, fold=1).astimezone(UTC).astimezone(tz)
    return aware
