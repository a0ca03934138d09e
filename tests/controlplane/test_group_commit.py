"""Group commit on the local adapter: writes queued behind the lock share one transaction, and
each is still answered on its own."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from supervisor.controlplane.local import LocalControlPlane
from supervisor.errors import RunNotFound
from supervisor.models import State, StateType
from tests.controlplane.contract import deployment
from tests.waiting import wait_until


@pytest.fixture
def plane(tmp_path):
    plane = LocalControlPlane(tmp_path / "state.db")
    plane.register_deployments([deployment()])
    yield plane
    plane.close()


def test_claims_queued_behind_the_lock_commit_in_one_transaction(plane, monkeypatch):
    runs = [plane.create_run("etl") for _ in range(10)]
    missing = uuid.uuid4()
    transactions: list[int] = []
    real = plane._locked_write

    def counted(fn: Any) -> Any:
        transactions.append(1)
        return real(fn)

    monkeypatch.setattr(plane, "_locked_write", counted)
    answers: dict[uuid.UUID, Any] = {}

    def claim(run_id: uuid.UUID) -> None:
        try:
            answers[run_id] = plane.set_state(
                run_id, State.of(StateType.PENDING), supervisor="s1", idempotency_key=f"{run_id}:p"
            )
        except RunNotFound as exc:
            answers[run_id] = exc

    # Given the write lock held while 11 claims (one of an unknown run) queue up behind it
    ids = [run.id for run in runs[:5]] + [missing] + [run.id for run in runs[5:]]
    threads = [threading.Thread(target=claim, args=(run_id,)) for run_id in ids]
    with plane._lock:
        for thread in threads:
            thread.start()
        wait_until(lambda: len(plane._group._queue) == len(ids), timeout=5, message="queued")
    for thread in threads:
        thread.join(timeout=10)
    # Then one transaction applied them all, and each claim has its own answer
    assert len(transactions) == 1
    assert isinstance(answers[missing], RunNotFound)
    for run in runs:
        assert answers[run.id].accepted
        assert plane.read_run(run.id).state.type is StateType.PENDING
        assert plane.read_run(run.id).supervisor == "s1"


def test_a_failed_group_fails_each_writer_and_applies_nothing(plane, monkeypatch):
    runs = [plane.create_run("etl") for _ in range(3)]

    def busy(fn: Any) -> Any:
        from supervisor.errors import ControlPlaneUnavailable

        raise ControlPlaneUnavailable("database stayed busy")

    monkeypatch.setattr(plane, "_locked_write", busy)
    errors: list[BaseException] = []

    def claim(run_id: uuid.UUID) -> None:
        try:
            plane.set_state(run_id, State.of(StateType.PENDING))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(run.id,)) for run in runs]
    with plane._lock:
        for thread in threads:
            thread.start()
        wait_until(lambda: len(plane._group._queue) == 3, timeout=5, message="queued")
    for thread in threads:
        thread.join(timeout=10)
    assert len(errors) == 3
    assert len({id(e) for e in errors}) == 3  # each writer raises its own instance
    assert all(plane.read_run(run.id).state.type is StateType.SCHEDULED for run in runs)
