"""The orchestration rules shared by the local and memory adapters, and their bounded
materialisation (pure functions; the contract suite checks them through the port)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from supervisor.controlplane import rules
from supervisor.models import OrchestrationStatus, State, StateType
from tests.controlplane.contract import deployment

ACCEPT, ABORT = OrchestrationStatus.ACCEPT, OrchestrationStatus.ABORT
NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


@pytest.mark.parametrize("current", list(StateType))
@pytest.mark.parametrize("proposed", list(StateType))
def test_decide_table(current: StateType, proposed: StateType) -> None:
    status, reason = rules.decide(current, proposed, force=False)
    if current.is_terminal:
        expected = ABORT
    elif proposed is StateType.PENDING:
        expected = ACCEPT if current is StateType.SCHEDULED else ABORT
    elif proposed is StateType.RUNNING and current is StateType.CANCELLING:
        expected = ABORT
    else:
        expected = ACCEPT
    assert status is expected and bool(reason) == (status is ABORT)
    assert rules.decide(current, proposed, force=True) == (ACCEPT, "")


def test_cancel_targets() -> None:
    targets = {t: rules.cancel_target(t) for t in StateType}
    assert targets == {
        StateType.SCHEDULED: StateType.CANCELLED, StateType.PENDING: StateType.CANCELLED,
        StateType.PAUSED: StateType.CANCELLED, StateType.RUNNING: StateType.CANCELLING,
        StateType.CANCELLING: None, StateType.COMPLETED: None, StateType.FAILED: None,
        StateType.CRASHED: None, StateType.CANCELLED: None}


def test_run_updates() -> None:
    at = NOW
    def updates(t: StateType, **kw: object) -> dict[str, object]:
        fields = {"supervisor": None, "pid": None, "exit_code": None, "commit": None, **kw}
        return rules.run_updates(State(type=t, timestamp=at), **fields)  # type: ignore[arg-type]

    assert updates(StateType.PENDING, supervisor="s1") == {"supervisor": "s1"}
    assert updates(StateType.RUNNING, pid=7, commit="abc", run_count=2) == {
        "start_time": at, "pid": 7, "commit": "abc", "run_count": 3}
    assert updates(StateType.SCHEDULED, scheduled_time=at) == {"scheduled_time": at}
    assert updates(StateType.CRASHED, exit_code=-9) == {"end_time": at, "exit_code": -9}
    assert updates(StateType.CANCELLING, supervisor="s2") == {}


def test_late_is_a_name_only_after_the_threshold() -> None:
    scheduled = State(type=StateType.SCHEDULED, timestamp=NOW)
    assert rules.shown_state(scheduled, NOW, NOW + timedelta(seconds=15)).name == "Scheduled"
    late = rules.shown_state(scheduled, NOW, NOW + timedelta(seconds=16))
    assert (late.type, late.name) == (StateType.SCHEDULED, "Late")
    named = State(type=StateType.SCHEDULED, name="AwaitingRetry", timestamp=NOW)
    assert rules.shown_state(named, NOW, NOW + timedelta(hours=1)) is named
    pending = State(type=StateType.PENDING, timestamp=NOW)
    assert rules.shown_state(pending, NOW, NOW + timedelta(hours=1)) is pending


def test_materialisation_is_bounded_per_read() -> None:
    every_second = deployment(interval=1)
    until = NOW + timedelta(seconds=2500)
    first, cursor, nxt = rules.plan_slots(every_second, NOW, until)
    assert len(first) == rules.MAX_SLOTS_PER_READ and cursor == first[-1]
    assert nxt == cursor + timedelta(seconds=1)
    rest, cursor, _ = rules.plan_slots(every_second, cursor, until)
    more, cursor, _ = rules.plan_slots(every_second, cursor, until)
    slots = first + rest + more
    assert len(slots) == len(set(slots)) == 2500 and cursor == until


def test_an_exhausted_schedule_has_no_next_slot() -> None:
    three = deployment(rrule="FREQ=DAILY;COUNT=3", anchor="2026-03-01T09:00")
    made, cursor, nxt = rules.plan_slots(three, NOW - timedelta(days=2), NOW + timedelta(days=9))
    assert len(made) == 3 and nxt is None and cursor == NOW + timedelta(days=9)


def test_missed_slot_is_the_latest_within_the_window() -> None:
    hourly = deployment(interval=3600)
    assert rules.missed_slot(hourly, NOW, NOW + timedelta(minutes=30)) is None
    assert rules.missed_slot(hourly, NOW, NOW + timedelta(hours=5, minutes=1)) == NOW + timedelta(
        hours=5)
    weekly_ago = NOW - timedelta(days=30)
    assert rules.missed_slot(deployment(cron="0 12 1 1 *"), weekly_ago, NOW) is None
    assert rules.missed_slot(deployment(cron="0 9 * * 1"), weekly_ago, NOW) == datetime(
        2026, 3, 2, 9, tzinfo=UTC)


def test_schedule_key_changes_with_the_schedule_only() -> None:
    base = rules.schedule_key(deployment(interval=60))
    assert rules.schedule_key(deployment(interval=60, parameters={"a": 1}, tags=["x"])) == base
    assert rules.schedule_key(deployment(interval=60, timezone="Europe/Berlin")) != base
    assert rules.schedule_key(deployment(cron="* * * * *")) != base
