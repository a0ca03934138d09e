"""Unit tests: when a puller pulls next, and whether its commit may be used without a pull."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from supervisor.storage.record import BACKOFF_CAP, JITTER, PullRecord, backoff

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_backoff_doubles_from_one_second_up_to_the_interval_or_five_minutes() -> None:
    assert [backoff(n, 60) for n in range(1, 9)] == [1, 2, 4, 8, 16, 32, 60, 60]
    assert backoff(30, 3600) == BACKOFF_CAP
    assert backoff(5, 0.2) == 1.0  # never a busy loop, even with a tiny interval


def test_a_good_pull_schedules_the_next_within_the_jitter_and_clears_failures() -> None:
    record = PullRecord(interval=100, pinned=False, failures=3, last_error="x")
    delay = record.succeeded("abc", 5.0, NOW)
    assert delay is not None and 100 <= delay <= 100 * (1 + JITTER)
    assert (record.current, record.failures, record.last_error) == ("abc", 0, None)
    assert record.next_pull == NOW + timedelta(seconds=delay)
    assert record.is_recent(5.0 + 99.9) and not record.is_recent(5.0 + 100)


def test_a_pinned_commit_is_always_recent_and_never_repulled() -> None:
    record = PullRecord(interval=100, pinned=True)
    assert record.succeeded("abc", 0.0, NOW) is None and record.next_pull is None
    assert record.is_recent(1e9)


def test_failures_count_up_and_show_on_the_board() -> None:
    record = PullRecord(interval=60, pinned=False)
    assert not record.is_recent(0.0)  # never pulled
    assert [record.failed("boom", NOW) for _ in range(3)] == [1, 2, 4]
    board = record.board()
    assert board["failures"] == 3 and board["last_error"] == "boom"
    assert board["next_pull"] == NOW + timedelta(seconds=4)
