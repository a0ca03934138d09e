"""Cancels: through the poller (safety net), through a nudge, before start, and on shutdown."""

from __future__ import annotations

import uuid

import pykka

from actors.messages import RunFinished
from actors.run_actor import RunActor
from supervisor.models import StateType
from supervisor.process import ExitReason
from tests.actors.harness import start_harness
from tests.waiting import wait_until

JOB = {"name": "job", "command": ["prog"], "kill_grace": 7}


def test_the_cancellation_poller_ends_a_running_tree_with_the_deployments_grace(tmp_path):
    h = start_harness(tmp_path, [JOB])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        h.wait_state(run, StateType.RUNNING)
        assert h.plane.request_cancel(run.id).state.type is StateType.CANCELLING
        # No nudge: the poller finds it on its next tick
        h.advance_until(lambda: process.terminations, step=0.5)
        assert process.terminations[0] == (7.0, ExitReason.CANCELLED)
        final = h.wait_state(run, StateType.CANCELLED)
        assert final.state.message.startswith("cancelled by ")
        assert h.plane.read_states(run.id)[-1].type is StateType.CANCELLED
        wait_until(lambda: h.in_flight() == 0)
    finally:
        h.sup.stop()


def test_a_cancel_before_the_start_time_means_it_never_starts(tmp_path):
    h = start_harness(tmp_path, [JOB])
    try:
        run = h.create_run("job", in_seconds=2)
        h.sup.nudge()
        wait_until(lambda: h.sup.board.get("schedule-poller")["owns"].get("timers") == 1)
        assert h.plane.request_cancel(run.id).state.type is StateType.CANCELLED
        h.advance(2)
        wait_until(lambda: h.in_flight() == 0)
        assert str(run.id) not in h.launcher.processes
    finally:
        h.sup.stop()


def test_a_stubborn_tree_is_escalated_and_counted(tmp_path):
    h = start_harness(tmp_path, [JOB])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        process.stubborn = True
        h.wait_state(run, StateType.RUNNING)
        h.sup.cancel_run(run.id, by="test")
        wait_until(lambda: process.terminations)
        process.end(ExitReason.CANCELLED, -9, escalated=True)
        final = h.wait_state(run, StateType.CANCELLED)
        assert "cancelled by test" in final.state.message
        assert "SIGKILL" in final.state.message
        metrics = h.sup.metrics.render().decode()
        assert "supervisor_kill_escalations_total 1.0" in metrics
    finally:
        h.sup.stop()


def test_shutdown_ends_every_tree_and_marks_the_runs_cancelled(tmp_path):
    h = start_harness(tmp_path, [JOB], limit=3)
    runs = [h.create_run("job") for _ in range(3)]
    h.sup.nudge()
    processes = [h.process(r) for r in runs]
    for run in runs:
        h.wait_state(run, StateType.RUNNING)
    h.sup.stop(timeout=10)
    assert h.sup.exit_code == 0
    for run, process in zip(runs, processes, strict=True):
        assert process.terminations[0][1] is ExitReason.SHUTDOWN
        state = h.plane.read_run(run.id).state
        assert state.type is StateType.CANCELLED
        assert "supervisor shutting down" in state.message
    assert h.sup.board.get("schedule-poller")["state"] == "stopped"


def test_deployments_stay_active_on_shutdown_unless_asked_to_pause(tmp_path):
    kept = start_harness(tmp_path / "kept", [JOB])
    kept.sup.stop(timeout=10)
    assert [d.paused for d in kept.plane.read_deployments()] == [False]
    paused = start_harness(tmp_path / "paused", [JOB], pause_on_shutdown=True)
    paused.sup.stop(timeout=10)
    assert [d.paused for d in paused.plane.read_deployments()] == [True]


def test_a_cancel_between_claim_and_start_ends_what_was_started(tmp_path):
    # Given the run is cancelled in the control plane at the very moment its process starts
    h = start_harness(tmp_path, [JOB])
    try:
        h.launcher.on_launch = lambda spec: h.plane.request_cancel(uuid.UUID(spec.run_id))
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        # Then the RUNNING report is refused and the tree is ended, not left running
        wait_until(lambda: process.terminations, message="the started tree is ended")
        assert process.terminations[0][1] is ExitReason.CANCELLED
        wait_until(lambda: h.in_flight() == 0)
        h.wait_state(run, StateType.CANCELLED)  # the slot is freed before the report lands
        assert [s.type for s in h.plane.read_states(run.id)].count(StateType.RUNNING) == 0
    finally:
        h.sup.stop()


def test_a_cancel_for_a_run_whose_actor_just_stopped_does_not_kill_the_root(tmp_path):
    # Given a run whose actor has stopped (as it does right after telling the root RunFinished,
    # which may still be queued behind a cancel: found by scripts/chaos)
    h = start_harness(tmp_path, [JOB])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        h.process(run)
        h.wait_state(run, StateType.RUNNING)
        for ref in pykka.ActorRegistry.get_by_class(RunActor):
            ref.stop()
        # When a cancel for it reaches the root (before the RunFinished it sent)
        h.sup.cancel_run(run.id, by="test")
        h.barrier()
        # Then the root lives on
        assert h.sup._root is not None and h.sup._root.is_alive()
        assert h.sup.health()[0], h.sup.health()
        h.sup._root.tell(RunFinished(run.id, None))
    finally:
        h.sup.stop()


def test_a_cancelling_run_is_told_once_then_no_longer_asked_about(tmp_path):
    h = start_harness(tmp_path, [JOB])
    asked: list[set[uuid.UUID]] = []
    read = h.plane.read_cancelling_runs

    def reading(run_ids):  # type: ignore[no-untyped-def]
        asked.append(set(run_ids))
        return read(run_ids)

    h.plane.read_cancelling_runs = reading  # type: ignore[method-assign]
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        process.stubborn = True  # stays CANCELLING through the grace (7 s)
        h.wait_state(run, StateType.RUNNING)
        h.plane.request_cancel(run.id)
        h.advance_until(lambda: process.terminations, step=0.5)
        told_at = len(asked)
        for _ in range(4):  # ticks of the poller (cancel_poll_interval 0.5 s), not the grace
            h.advance(0.5)
        now = h.clock.now()
        wait_until(lambda: h.sup.board.get("cancellation-poller")["last_tick"] >= now)
        assert h.state(run) is StateType.CANCELLING
        assert all(run.id not in ids for ids in asked[told_at:])
        assert len(process.terminations) == 1
        process.end(ExitReason.CANCELLED, -9, escalated=True)
        h.wait_state(run, StateType.CANCELLED)
    finally:
        h.sup.stop()
