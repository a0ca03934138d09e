"""The shared scheduler survives a failing callback and says so; a timer's tell to a stopped
actor is no failure."""

from __future__ import annotations

import logging
from typing import Any

import pykka
import pytest

from actors.base import tell_quietly
from supervisor.clock import FakeClock
from supervisor.timers import ManualScheduler


class _Sink(pykka.ThreadingActor):
    def on_receive(self, message: Any) -> None:
        pass


def test_a_failing_callback_is_logged_as_an_error_and_later_timers_still_fire(
    caplog: pytest.LogCaptureFixture,
) -> None:
    timers = ManualScheduler(FakeClock())
    fired: list[str] = []

    def broken() -> None:
        raise ValueError("a bug in a deadline")

    timers.call_later(1, broken)
    timers.call_later(2, lambda: fired.append("next"))
    with caplog.at_level(logging.DEBUG, logger="supervisor"):
        timers.advance(3)
    assert fired == ["next"]
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None
    assert "a bug in a deadline" in str(errors[0].exc_info[1])


def test_a_timer_telling_a_stopped_actor_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    timers = ManualScheduler(FakeClock())
    ref = _Sink.start()
    ref.stop()
    timers.call_later(1, tell_quietly(ref, "late"))
    with caplog.at_level(logging.DEBUG):
        timers.advance(2)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
