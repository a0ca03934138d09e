"""The root as a supervisor: deaths are noticed, children restarted, limits enforced."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from actors.base import SupervisedActor, SystemContext
from actors.board import StatusBoard
from actors.messages import ChildFailed
from supervisor.clock import FakeClock
from supervisor.controlplane.memory import MemoryControlPlane
from supervisor.errors import ControlPlaneUnavailable
from supervisor.metrics import Metrics
from supervisor.models import State, StateType
from supervisor.system import Supervisor
from supervisor.timers import ManualScheduler
from tests.actors.fakes import FakeLauncher
from tests.actors.harness import make_settings, start_harness
from tests.waiting import wait_until

ON_DEMAND = {"name": "job", "command": ["prog"]}


class _Probe(pykka.ThreadingActor):
    def __init__(self) -> None:
        super().__init__()
        self.failures: list[ChildFailed] = []

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildFailed):
            self.failures.append(message)
        return list(self.failures)


class _BrokenAtStart(SupervisedActor):
    def started(self) -> None:
        raise RuntimeError("cannot open the thing")


class _BrokenInHandler(SupervisedActor):
    def on_receive(self, message: Any) -> None:
        raise ValueError(f"bad message {message!r}")


def _ctx(tmp_path) -> SystemContext:
    from supervisor.controlplane.memory import MemoryControlPlane

    return SystemContext(
        make_settings(tmp_path, []),
        MemoryControlPlane(),
        ManualScheduler(),
        StatusBoard(),
        Metrics(),
    )


def test_a_death_in_on_start_reaches_the_parent_although_pykka_skips_on_failure(tmp_path):
    probe = _Probe.start()
    try:
        ctx = _ctx(tmp_path)
        _BrokenAtStart.start("broken", ctx, probe)
        failures = wait_until(lambda: probe.ask("get", timeout=5))
        assert failures == [
            ChildFailed("broken", "RuntimeError: cannot open the thing", "on_start")
        ]
        assert ctx.board.get("broken")["state"] == "failed"
    finally:
        probe.stop()


def test_a_death_in_a_handler_reaches_the_parent(tmp_path):
    probe = _Probe.start()
    try:
        ref = _BrokenInHandler.start("fragile", _ctx(tmp_path), probe)
        ref.tell("boom")
        failures = wait_until(lambda: probe.ask("get", timeout=5))
        assert failures[0].name == "fragile" and failures[0].during == "handler"
        assert "ValueError: bad message 'boom'" in failures[0].error
        wait_until(lambda: not ref.is_alive())
    finally:
        probe.stop()


def test_a_poller_whose_handler_raises_is_restarted_and_the_system_keeps_serving(tmp_path):
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        # Given the control plane raises an unexpected error inside the poller's handler
        h.plane.fail_next(1, RuntimeError("driver bug"), only={"read_scheduled_runs"})
        h.sup.nudge()
        wait_until(lambda: h.sup.board.get("schedule-poller")["restarts"] == 1)
        # Then the new poller serves runs
        run = h.create_run("job")
        h.sup.nudge()
        h.process(run).exit(0)
        h.wait_state(run, StateType.COMPLETED)
        assert "driver bug" in h.sup.board.get("schedule-poller")["last_error"]
        assert h.sup.health()[0]
    finally:
        h.sup.stop()
    assert h.sup.exit_code == 0


def test_too_many_restarts_stop_the_system_with_a_clear_error(tmp_path):
    h = start_harness(tmp_path, [ON_DEMAND], max_restarts=2, restart_window=60)
    for restarts in range(3):
        h.plane.fail_next(1, RuntimeError("driver bug"), only={"read_scheduled_runs"})
        h.sup.nudge()
        if restarts < 2:
            wait_until(lambda r=restarts: h.sup.board.get("schedule-poller")["restarts"] == r + 1)
    assert h.sup.wait(10), "the system should stop by itself"
    assert h.sup.exit_code == 1
    assert "schedule-poller failed 3 times within 60s" in h.sup.error
    assert "driver bug" in h.sup.error


def test_control_plane_outage_backs_off_and_recovers_without_restarts(tmp_path):
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        run = h.create_run("job")
        h.plane.fail_next(
            5, ControlPlaneUnavailable("database is locked"), only={"read_scheduled_runs"}
        )
        # the poller re-arms in its own thread: small steps until it has read the run
        h.advance_until(lambda: str(run.id) in h.launcher.processes, step=0.5, timeout=30)
        h.process(run).exit(0)
        h.wait_state(run, StateType.COMPLETED)
        assert h.sup.board.get("schedule-poller")["restarts"] == 0
        assert h.sup.board.get("cancellation-poller")["restarts"] == 0
    finally:
        h.sup.stop()


def test_a_reporter_over_its_restart_budget_stops_the_system_without_hanging(tmp_path):
    # Given no restarts allowed and a run whose terminal report meets a bug
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}], max_restarts=0)
    run = h.create_run("job")
    h.sup.nudge()
    process = h.process(run)
    h.wait_state(run, StateType.RUNNING)
    h.plane.fail_next(1, RuntimeError("driver bug"), only={"set_state"})
    process.exit(0)
    # Then the system stops by itself with the reason (found by scripts/chaos: it waited for
    # the dead reporter to drain, for ever)
    assert h.sup.wait(timeout=10)
    assert h.sup.exit_code == 1
    assert "state-reporter" in (h.sup.error or "")


class _SlowRecovery:
    """The memory plane, except that the recovery's read (runs in flight) waits until told."""

    def __init__(self, plane: Any) -> None:
        self._plane = plane
        self.entered, self.release = threading.Event(), threading.Event()

    def read_runs(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("supervisor") is not None and not self.release.is_set():
            self.entered.set()
            self.release.wait(30)
        return self._plane.read_runs(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._plane, name)


def test_recovery_answers_with_a_message_and_polling_waits_for_it(tmp_path):
    # Given a run a previous incarnation of "unit" left RUNNING, and a slow recovery read
    clock = FakeClock()
    plane = MemoryControlPlane(clock)
    settings = make_settings(tmp_path, [{"name": "job", "command": ["prog"]}])
    plane.register_deployments(settings.deployments)
    orphan = plane.create_run("job")
    plane.set_state(orphan.id, State.of(StateType.PENDING), supervisor="unit")
    plane.set_state(orphan.id, State.of(StateType.RUNNING), pid=999_999)
    slow = _SlowRecovery(plane)
    sup = Supervisor(settings, control_plane=slow, scheduler=ManualScheduler(clock),
                     launcher=FakeLauncher(), environment={})
    sup.start()
    try:
        assert slow.entered.wait(10), "recovery never read the runs in flight"
        # When the recovery is still waiting, the root answers and no poller has started
        sup._root.ask(object(), timeout=5)
        assert sup.board.get("schedule-poller") is None
        # Then once it answers, the orphan is closed out and polling begins
        slow.release.set()
        wait_until(lambda: plane.read_run(orphan.id).state.type is StateType.CRASHED, 10)
        wait_until(lambda: sup.board.get("schedule-poller") is not None, 10,
                   message="the schedule poller started after the recovery")
        assert "supervisor restarted" in (plane.read_run(orphan.id).state.message or "")
    finally:
        slow.release.set()
        sup.stop()
