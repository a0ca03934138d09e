"""The guard: calls into the system end within a deadline, and stuck calls are capped."""

from __future__ import annotations

import threading

import pytest

from supervisor.ops.guard import Busy, Guard


def test_returns_the_value_and_reraises_the_error() -> None:
    guard = Guard(deadline=5)
    assert guard.call(lambda: 42, "answer") == 42
    with pytest.raises(KeyError):
        guard.call(lambda: {}["x"], "lookup")


def test_a_stuck_call_is_busy_and_stuck_calls_are_capped() -> None:
    release = threading.Event()
    guard = Guard(deadline=0.01, limit=2)
    try:
        for _ in range(2):
            with pytest.raises(Busy, match=r"did not answer within 0\.01s"):
                guard.call(lambda: release.wait(30), "stuck")
        with pytest.raises(Busy, match="too many requests"):
            guard.call(lambda: 1, "next")
    finally:
        release.set()
    # Once the stuck calls return, their slots are free again.
    from tests.waiting import wait_until

    wait_until(lambda: _answers(guard), timeout=5, message="slots freed")


def _answers(guard: Guard) -> bool:
    try:
        return guard.call(lambda: True, "probe")
    except Busy:
        return False
