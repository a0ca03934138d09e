"""Schedule slots: interval, cron and rrule, with DST transitions in Europe/Berlin and
America/New_York (2026: Berlin springs forward on 29 March and falls back on 25 October;
New York on 8 March and 1 November). The behaviour is documented in supervisor/schedules.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from supervisor.schedules import describe, next_slot, slots, validate_schedule
from supervisor.settings import DeploymentSettings


def dep(**schedule: Any) -> DeploymentSettings:
    return DeploymentSettings.model_validate({"name": "d", "command": ["true"], **schedule})


def z(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def window(deployment: DeploymentSettings, after: datetime, until: datetime) -> list[datetime]:
    return list(slots(deployment, after, until))


BERLIN_0230_CRON = dep(cron="30 2 * * *", timezone="Europe/Berlin")
BERLIN_0230_RRULE = dep(rrule="FREQ=DAILY;BYHOUR=2;BYMINUTE=30;BYSECOND=0",
                        timezone="Europe/Berlin")
NY_HOURLY_CRON = dep(cron="30 * * * *", timezone="America/New_York")
NY_HOURLY_RRULE = dep(rrule="FREQ=HOURLY;BYMINUTE=30;BYSECOND=0", timezone="America/New_York")


# -- DST: a daily 02:30 job on the days the clocks change ------------------------------------

@pytest.mark.parametrize("deployment", [BERLIN_0230_CRON, BERLIN_0230_RRULE], ids=["cron", "rrule"])
def test_daily_0230_on_spring_forward_runs_once_shifted_by_the_gap(
    deployment: DeploymentSettings,
) -> None:
    # 02:30 does not exist on 29 March: it runs at 03:30 CEST (01:30 UTC), once
    assert window(deployment, z(2026, 3, 27, 12), z(2026, 3, 30, 12)) == [
        z(2026, 3, 28, 1, 30), z(2026, 3, 29, 1, 30), z(2026, 3, 30, 0, 30)]


@pytest.mark.parametrize("deployment", [BERLIN_0230_CRON, BERLIN_0230_RRULE], ids=["cron", "rrule"])
def test_daily_0230_on_fall_back_runs_once_at_the_first_occurrence(
    deployment: DeploymentSettings,
) -> None:
    # 02:30 happens twice on 25 October (00:30 and 01:30 UTC): only the first
    assert window(deployment, z(2026, 10, 23, 12), z(2026, 10, 26, 12)) == [
        z(2026, 10, 24, 0, 30), z(2026, 10, 25, 0, 30), z(2026, 10, 26, 1, 30)]


# -- DST: an hourly job across the changes ---------------------------------------------------

@pytest.mark.parametrize("deployment", [NY_HOURLY_CRON, NY_HOURLY_RRULE], ids=["cron", "rrule"])
def test_hourly_across_fall_back_never_repeats_a_wall_time(
    deployment: DeploymentSettings,
) -> None:
    # 00:30 EDT, 01:30 EDT, then 02:30 EST: 01:30 EST (06:30 UTC) is the repeat and is skipped
    assert window(deployment, z(2026, 11, 1, 4), z(2026, 11, 1, 8)) == [
        z(2026, 11, 1, 4, 30), z(2026, 11, 1, 5, 30), z(2026, 11, 1, 7, 30)]


@pytest.mark.parametrize("deployment", [NY_HOURLY_CRON, NY_HOURLY_RRULE], ids=["cron", "rrule"])
def test_hourly_across_spring_forward_has_no_duplicate(deployment: DeploymentSettings) -> None:
    # 01:30 EST, then the missing 02:30 and the real 03:30 EDT are one slot, then 04:30 EDT
    assert window(deployment, z(2026, 3, 8, 6), z(2026, 3, 8, 9)) == [
        z(2026, 3, 8, 6, 30), z(2026, 3, 8, 7, 30), z(2026, 3, 8, 8, 30)]


@pytest.mark.parametrize("deployment", [
    BERLIN_0230_CRON, BERLIN_0230_RRULE, NY_HOURLY_CRON, NY_HOURLY_RRULE,
    dep(cron="*/20 1-3 * * *", timezone="Europe/Berlin"),
], ids=["berlin-cron", "berlin-rrule", "ny-cron", "ny-rrule", "berlin-20min"])
@pytest.mark.parametrize("day", [(2026, 3, 8), (2026, 3, 29), (2026, 10, 25), (2026, 11, 1)])
def test_reading_in_pieces_gives_the_same_slots_as_reading_at_once(
    deployment: DeploymentSettings, day: tuple[int, int, int]
) -> None:
    # The control plane reads a schedule window by window: no edge may lose or repeat a slot,
    # not even an edge inside the DST gap (cut every 10 minutes through the day), and windows
    # far from the change (read without a margin) agree with those near it (read with one).
    start = z(*day) - timedelta(hours=36)
    end = start + timedelta(hours=72)
    whole = window(deployment, start, end)
    pieces: list[datetime] = []
    cut = start
    while cut < end:
        pieces += window(deployment, cut, cut + timedelta(minutes=10))
        cut += timedelta(minutes=10)
    assert pieces == whole and len(set(whole)) == len(whole)
    assert whole == sorted(whole)


# -- interval --------------------------------------------------------------------------------

def test_interval_steps_in_real_time_across_dst() -> None:
    hourly = dep(interval=3600, timezone="Europe/Berlin")
    found = window(hourly, z(2026, 3, 28, 23, 30), z(2026, 3, 29, 3, 30))
    assert found == [z(2026, 3, 29, h) for h in range(4)]


def test_interval_is_strictly_after_and_at_or_before() -> None:
    minutely = dep(interval=60)
    assert window(minutely, z(2026, 1, 1, 0, 1), z(2026, 1, 1, 0, 3)) == [
        z(2026, 1, 1, 0, 2), z(2026, 1, 1, 0, 3)]
    assert window(minutely, z(2026, 1, 1, 0, 1), z(2026, 1, 1, 0, 1)) == []


def test_interval_anchor_sets_the_phase_in_the_deployment_zone() -> None:
    every_day = dep(interval=86400, anchor="2026-01-01T09:15", timezone="Europe/Berlin")
    assert next_slot(every_day, z(2026, 2, 1)) == z(2026, 2, 1, 8, 15)
    # an anchor in the future fixes the phase, not the start
    assert next_slot(dep(interval=600, anchor="2030-01-01T00:05:00+00:00"), z(2026, 1, 1)) == z(
        2026, 1, 1, 0, 5)


def test_fractional_intervals() -> None:
    assert window(dep(interval=0.5), z(2026, 1, 1), z(2026, 1, 1, 0, 0, 1)) == [
        z(2026, 1, 1) + timedelta(seconds=0.5), z(2026, 1, 1, 0, 0, 1)]


# -- cron and rrule details ------------------------------------------------------------------

def test_cron_in_utc_and_slots_are_aware_utc() -> None:
    found = window(dep(cron="*/15 * * * *"), z(2026, 5, 1), z(2026, 5, 1, 1))
    assert found == [z(2026, 5, 1, 0, m) for m in (15, 30, 45)] + [z(2026, 5, 1, 1)]
    assert all(s.tzinfo is UTC for s in found)


def test_cron_on_a_leap_day() -> None:
    assert next_slot(dep(cron="0 12 29 2 *"), z(2026, 1, 1)) == z(2028, 2, 29, 12)


def test_rrule_interval_keeps_its_phase_wherever_it_is_read() -> None:
    every_5h = dep(rrule="FREQ=HOURLY;INTERVAL=5;BYMINUTE=0;BYSECOND=0")
    for start in (z(2026, 1, 1), z(2026, 1, 1, 3), z(2027, 6, 7, 13, 59)):
        slot = next_slot(every_5h, start)
        assert slot is not None
        assert (slot - z(2000, 1, 1)) % timedelta(hours=5) == timedelta(0)
        assert start < slot <= start + timedelta(hours=5)


def test_rrule_minutely_far_from_2000() -> None:
    # DTSTART is moved near the window by whole periods: same phase, no iteration from 2000
    slot = next_slot(dep(rrule="FREQ=MINUTELY;INTERVAL=7"), z(2026, 11, 1, 3))
    assert slot is not None and z(2026, 11, 1, 3) < slot <= z(2026, 11, 1, 3, 7)
    assert (slot - z(2000, 1, 1)) % timedelta(minutes=7) == timedelta(0)


def test_rrule_with_anchor_count_and_until() -> None:
    every_other_day = dep(rrule="FREQ=DAILY;INTERVAL=2", anchor="2026-01-01T09:00",
                          timezone="America/New_York")
    assert window(every_other_day, z(2026, 1, 2), z(2026, 1, 6)) == [
        z(2026, 1, 3, 14), z(2026, 1, 5, 14)]
    three = dep(rrule="FREQ=DAILY;COUNT=3", anchor="2026-01-01T09:00")
    assert window(three, z(2025, 1, 1), z(2027, 1, 1)) == [z(2026, 1, d, 9) for d in (1, 2, 3)]
    assert next_slot(three, z(2026, 1, 3, 9)) is None
    assert next_slot(dep(rrule="FREQ=DAILY;UNTIL=20200101T000000"), z(2026, 1, 1)) is None


def test_rrule_exdate_is_honoured() -> None:
    skip_2nd = dep(rrule="RRULE:FREQ=DAILY;BYHOUR=6;BYMINUTE=0;BYSECOND=0\n"
                         "EXDATE:20260102T060000")
    assert window(skip_2nd, z(2026, 1, 1), z(2026, 1, 3, 12)) == [
        z(2026, 1, 1, 6), z(2026, 1, 3, 6)]


def test_rrule_until_in_utc_works_in_any_zone() -> None:
    # RFC 5545: with a zoned DTSTART, UNTIL is written in UTC ("…Z"); 09:00 Berlin is 08:00Z
    daily = dep(rrule="FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0;UNTIL=20260103T080000Z",
                timezone="Europe/Berlin")
    assert window(daily, z(2025, 12, 31, 12), z(2026, 2, 1)) == [
        z(2026, 1, d, 8) for d in (1, 2, 3)]
    for zone in ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"):
        bounded = dep(rrule="FREQ=DAILY;UNTIL=20300101T000000Z", timezone=zone)
        slot = next_slot(bounded, z(2026, 1, 1))
        assert slot is not None and slot <= z(2030, 1, 1)
        assert next_slot(bounded, z(2030, 1, 1)) is None


def test_rrule_bysetpos_last_weekday_of_the_month_across_dst() -> None:
    last_weekday = dep(rrule="FREQ=MONTHLY;BYDAY=MO,TU,WE,TH,FR;BYSETPOS=-1;BYHOUR=17;"
                             "BYMINUTE=0;BYSECOND=0", timezone="America/New_York")
    assert window(last_weekday, z(2026, 1, 1), z(2026, 4, 1)) == [
        z(2026, 1, 30, 22), z(2026, 2, 27, 22), z(2026, 3, 31, 21)]


def test_rrule_count_counts_from_the_anchor_in_the_zone() -> None:
    three = dep(rrule="FREQ=WEEKLY;COUNT=3", anchor="2026-03-22T02:30", timezone="Europe/Berlin")
    # 29 March 02:30 does not exist in Berlin: shifted by the gap, as everywhere else
    assert window(three, z(2026, 1, 1), z(2027, 1, 1)) == [
        z(2026, 3, 22, 1, 30), z(2026, 3, 29, 1, 30), z(2026, 4, 5, 0, 30)]


def test_multi_rule_strings_keep_each_rules_phase_wherever_they_are_read() -> None:
    # The weekly rule fires on DTSTART's weekday (2000-01-01, a Saturday), in any window
    both = dep(rrule="RRULE:FREQ=DAILY;BYHOUR=9;BYMINUTE=0;BYSECOND=0\n"
                     "RRULE:FREQ=WEEKLY;BYHOUR=12;BYMINUTE=0;BYSECOND=0", timezone="Asia/Tokyo")
    noons = [z(2026, 1, 3, 3), z(2026, 1, 10, 3), z(2026, 1, 17, 3)]
    for start in (z(2026, 1, 1), z(2026, 1, 4), z(2026, 1, 6, 5)):
        found = window(both, start, z(2026, 1, 18))
        assert [s for s in found if s.hour == 3] == [n for n in noons if n > start]
        assert all(s.hour in (0, 3) for s in found)


def test_rrule_exdate_in_utc_is_honoured_in_the_zone() -> None:
    skip_2nd = dep(rrule="RRULE:FREQ=DAILY;BYHOUR=6;BYMINUTE=0;BYSECOND=0\n"
                         "EXDATE:20260102T050000Z", timezone="Europe/Paris")
    assert window(skip_2nd, z(2026, 1, 1), z(2026, 1, 3, 12)) == [
        z(2026, 1, 1, 5), z(2026, 1, 3, 5)]


def test_describe() -> None:
    assert describe(dep(interval=60)) == "every 60s"
    assert describe(dep(interval=0.5)) == "every 0.5s"
    assert describe(dep(cron="*/5 * * * *", timezone="Europe/Paris")) == (
        "cron */5 * * * * (Europe/Paris)")
    assert describe(dep(rrule="FREQ=HOURLY")) == "rrule FREQ=HOURLY (UTC)"
    assert describe(dep()) is None
    assert window(dep(), z(2026, 1, 1), z(2027, 1, 1)) == []


# -- invalid schedules -----------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "says"), [
    ({"cron": "* * * * * *"}, "cron: '* * * * * *' is not a valid 5-field cron expression"),
    ({"cron": "61 * * * *"}, "cron: '61 * * * *' is not a valid"),
    ({"cron": "every day"}, "cron: 'every day' is not a valid"),
    ({"cron": "0 0 30 2 *"}, "cron: '0 0 30 2 *' never fires"),
    ({"rrule": "FREQ=SOMETIMES"}, "rrule: 'FREQ=SOMETIMES' is not a valid rrule"),
    ({"rrule": "DTSTART:20260101T000000\nRRULE:FREQ=DAILY"}, "use `anchor`"),
    ({"rrule": "BYHOUR=9"}, "rrule: 'BYHOUR=9' is not a valid rrule: every rule needs FREQ="),
    ({"rrule": "RRULE:"}, "rrule: 'RRULE:' is not a valid rrule"),
    ({"rrule": "FREQ=DAILY;COUNT=3"}, "rrule: COUNT counts from the `anchor`: set one"),
    ({"rrule": "FREQ=DAILY;UNTIL=19990101T000000Z"}, "never fires"),
    ({"rrule": "FREQ=SECONDLY;INTERVAL=0"}, "rrule: INTERVAL must be at least 1"),
    ({"anchor": "yesterday", "interval": 60}, "anchor: 'yesterday' is not an ISO-8601 time"),
])
def test_invalid_schedules_name_the_field_and_value(fields: dict[str, str], says: str) -> None:
    unchecked = DeploymentSettings.model_construct(
        name="d", command=("true",), timezone="UTC",
        **{"interval": None, "cron": None, "rrule": None, "anchor": None, **fields})
    with pytest.raises(ValueError) as caught:
        validate_schedule(unchecked)
    assert says in str(caught.value)
    for leak in ("__init__", "unpack", "positional argument"):
        assert leak not in str(caught.value)
