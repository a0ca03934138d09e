"""The run policies' decisions as pure functions (the actors only call into them)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from supervisor.models import Run, State, StateType
from supervisor.policies import concurrency, hooks, lateness, retry
from supervisor.settings import DeploymentSettings, parse_settings

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def deployment(**keys: object) -> DeploymentSettings:
    return DeploymentSettings.model_validate({"name": "etl", "command": ["true"], **keys})


def run(late: float = 0.0, run_count: int = 1) -> Run:
    return Run(id=uuid.uuid4(), deployment="etl", state=State.of(StateType.SCHEDULED),
               scheduled_time=NOW - timedelta(seconds=late), run_count=run_count)


def test_delays_one_per_retry_and_the_last_repeats() -> None:
    listed = deployment(retries=5, retry_delay=[10, 60])
    assert [retry.delay_for(listed, n) for n in (1, 2, 3, 5)] == [10, 60, 60, 60]
    assert retry.delay_for(deployment(retry_delay=7), 4) == 7


def test_next_attempt_within_the_budget_for_the_ends_retried() -> None:
    d = deployment(retries=2, retry_delay=[5], retry_on=["failed"])
    failed, crashed = State.of(StateType.FAILED, "boom"), State.of(StateType.CRASHED, "-9")
    state, due = retry.next_attempt(d, failed, 1, NOW, NOW) or (None, None)
    assert state is not None and state.type is StateType.SCHEDULED
    assert state.name == "AwaitingRetry" and due == NOW + timedelta(seconds=5)
    assert state.message == "retry 1 of 2 in 5s; attempt 1 Failed: boom"
    assert retry.next_attempt(d, failed, 3, NOW, NOW) is None  # out of retries
    assert retry.next_attempt(d, crashed, 1, NOW, NOW) is None  # not in retry_on
    for final in (StateType.COMPLETED, StateType.CANCELLED):
        assert retry.next_attempt(d, State.of(final), 1, NOW, NOW) is None


def test_a_retry_is_always_due_after_the_attempt_it_follows() -> None:
    d = deployment(retries=1)
    _, due = retry.next_attempt(d, State.of(StateType.FAILED), 1, NOW, NOW) or (None, NOW)
    assert due > NOW


def test_after_restart_a_crashed_run_is_retried_only_if_crashes_are() -> None:
    ended = State.of(StateType.CRASHED, "supervisor restarted")
    state, due = retry.after_restart(deployment(retries=1), run(), ended, NOW)
    assert state.name == "AwaitingRetry" and due is not None
    assert retry.after_restart(deployment(retries=1, retry_on=["failed"]), run(), ended, NOW) == (
        ended, None)
    assert retry.after_restart(None, run(), ended, NOW) == (ended, None)
    left = run(run_count=2)
    assert retry.recovery_key(left) != retry.recovery_key(run(run_count=1))


def test_late_and_skipped() -> None:
    d = deployment(late_after=60, skip_late_after=3600)
    assert not lateness.is_late(d, run(late=60), NOW) and lateness.is_late(d, run(late=61), NOW)
    assert lateness.is_late(deployment(), run(late=16), NOW)  # the default: 15 s
    assert lateness.skip_message(d, run(late=3600), NOW) is None
    assert lateness.skip_message(d, run(late=3 * 3600 + 301), NOW) == (
        "skipped: missed by 3h 5m (skip_late_after = 3600s)")
    assert lateness.skip_message(deployment(), run(late=10**6), NOW) is None


def test_hooks_by_final_state() -> None:
    d = deployment(on_failure=["f"], on_completion=["c"])
    assert hooks.hook_for(d, State.of(StateType.CRASHED)) == ("on_failure", ("f",))
    assert hooks.hook_for(d, State.of(StateType.FAILED)) == ("on_failure", ("f",))
    assert hooks.hook_for(d, State.of(StateType.COMPLETED)) == ("on_completion", ("c",))
    assert hooks.hook_for(d, State.of(StateType.CANCELLED)) is None
    assert hooks.timeout(2.0) == 20.0 and hooks.timeout(0.0) == hooks.MIN_TIMEOUT


def test_deployment_slots_count_per_deployment_and_give_back_once(tmp_path) -> None:
    settings = parse_settings({"deployments": [
        {"name": "one", "command": ["true"], "concurrency": 1},
        {"name": "free", "command": ["true"]}]}, tmp_path / "s.toml", env={})
    changes: list[tuple[str, int]] = []
    slots = concurrency.DeploymentSlots(settings, lambda name, n: changes.append((name, n)))
    a, b = uuid.uuid4(), uuid.uuid4()
    slots.take(a, "one")
    slots.take(a, "one")  # idempotent
    assert slots.full("one") and not slots.full("free") and slots.in_flight("one") == 1
    slots.give(a)
    slots.give(a)
    slots.give(b)  # held nothing: gives nothing
    assert not slots.full("one") and changes == [("one", 1), ("one", 0)]
    one = settings.deployments[0]
    assert concurrency.refusal(one, 1) is None  # enqueue
    cancel_new = one.model_copy(update={"collision": "cancel-new"})
    assert concurrency.refusal(cancel_new, 1) == (
        "cancelled: deployment one is at its concurrency limit (1 of 1 running)")
