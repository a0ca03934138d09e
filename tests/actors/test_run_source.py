"""Run sources: the schedule poller (start, --once) and the one run of `execute`, seen from a
fake root (the whole system's behaviour is in tests/cli and tests/integration)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest

from actors.base import CANCELLATION_POLLER, SCHEDULE_POLLER, SystemContext
from actors.board import StatusBoard
from actors.run_source import OneRun, SchedulePolling
from supervisor.controlplane.memory import MemoryControlPlane
from supervisor.metrics import Metrics
from supervisor.models import Run, State, StateType
from supervisor.timers import ManualScheduler
from tests.actors.harness import make_settings


@dataclass
class _Root:
    ctx: SystemContext
    calls: list[tuple[Any, ...]] = field(default_factory=list)

    def start_child(self, name: str, actor: type, *args: Any) -> None:
        self.calls.append(("child", name, *args))

    def launch(self, run: Run) -> None:
        self.calls.append(("launch", run.id))

    def fail(self, error: str) -> None:
        self.calls.append(("fail", error))


@pytest.fixture
def root(tmp_path):
    settings = make_settings(tmp_path, [{"name": "job", "command": ["prog"]},
                                        {"name": "other", "command": ["prog"]}])
    plane = MemoryControlPlane()
    plane.register_deployments(settings.deployments)
    return _Root(SystemContext(settings, plane, ManualScheduler(), StatusBoard(), Metrics()))


@pytest.mark.parametrize("once", [False, True])
def test_schedule_polling_starts_its_poller_before_the_cancellation_poller(root, once):
    source = SchedulePolling(once)
    source.start(root)
    assert root.calls == [("child", SCHEDULE_POLLER, ("job", "other"), once),
                          ("child", CANCELLATION_POLLER)]
    # it is spent only once its single pass says so (--once); the root ends the system then
    assert not source.spent
    source.pass_done()
    assert source.spent
    assert source.finished(uuid.uuid4(), State.of(StateType.FAILED)) is None


def test_one_run_hands_over_its_scheduled_run_and_is_spent(root):
    run = root.ctx.control_plane.create_run("job")
    source = OneRun(run.id)
    source.start(root)
    assert root.calls == [("child", CANCELLATION_POLLER), ("launch", run.id)]
    assert source.spent


@pytest.mark.parametrize(("state", "code"), [
    (State.of(StateType.COMPLETED), 0),
    (State.of(StateType.FAILED), 1),
    (State.of(StateType.CANCELLED), 1),
    (None, 1),  # its claim failed: it never ran
])
def test_one_runs_exit_code_is_its_runs_end_and_no_other_runs(root, state, code):
    run = root.ctx.control_plane.create_run("job")
    source = OneRun(run.id)
    source.start(root)
    assert source.finished(uuid.uuid4(), State.of(StateType.COMPLETED)) is None
    assert source.finished(run.id, state) == code


def test_one_run_refuses_a_run_that_is_not_scheduled(root):
    plane = root.ctx.control_plane
    run = plane.create_run("job")
    plane.set_state(run.id, State.of(StateType.PENDING), supervisor="elsewhere")
    source = OneRun(run.id)
    source.start(root)
    assert root.calls[-1] == ("fail", f"execute: run {run.id} is PENDING, not SCHEDULED")
    assert not source.spent


def test_one_run_refuses_a_run_of_a_deployment_not_in_the_settings(root, tmp_path):
    plane = root.ctx.control_plane
    plane.register_deployments(make_settings(tmp_path, [{"name": "theirs", "command": ["x"]}])
                               .deployments)
    run = plane.create_run("theirs")
    OneRun(run.id).start(root)
    assert root.calls[-1] == ("fail", "execute: deployment 'theirs' is not in the settings file")


def test_one_run_refuses_an_unknown_run(root):
    missing = uuid.uuid4()
    OneRun(missing).start(root)
    kind, error = root.calls[-1]
    assert kind == "fail" and error.startswith("execute: ") and str(missing) in error
