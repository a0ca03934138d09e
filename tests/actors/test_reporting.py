"""State reports survive a control-plane outage: retried until they land, applied once."""

from __future__ import annotations

import threading

from supervisor.errors import ControlPlaneUnavailable
from supervisor.models import OrchestrationResult, OrchestrationStatus, StateType
from tests.actors.harness import start_harness
from tests.waiting import wait_until


def test_reports_made_during_an_outage_land_once_it_ends(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        h.wait_state(run, StateType.RUNNING)
        # Given the control plane fails the next 4 calls
        h.plane.fail_next(4, ControlPlaneUnavailable("database is locked"), only={"set_state"})
        process.exit(0)
        wait_until(lambda: h.in_flight() == 0)  # the slot is free although nothing landed yet
        reporter = lambda: h.sup.board.get("state-reporter")  # noqa: E731
        wait_until(lambda: reporter()["owns"].get("pending") == 1, message="report held back")
        # When time passes (backoff timers fire), the terminal report lands
        h.advance_until(lambda: reporter()["owns"].get("pending") == 0, step=1.0)
        assert h.state(run) is StateType.COMPLETED
        types = [s.type for s in h.plane.read_states(run.id)]
        assert types.count(StateType.COMPLETED) == 1
        assert h.sup.board.get("state-reporter")["owns"]["pending"] == 0
    finally:
        h.sup.stop()


def test_a_process_that_ended_before_its_launch_returned_was_still_running(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}])
    try:
        # Given a process so quick that it has ended (and is reaped) when its launch returns
        h.launcher.exit_at_start = 0
        run = h.create_run("job")
        h.sup.nudge()
        ended = h.wait_state(run, StateType.COMPLETED)
        # Then it started: RUNNING landed before its end, with its start time (not "could not
        # start", which would leave the run without either)
        assert [s.type for s in h.plane.read_states(run.id)][-2:] == [
            StateType.RUNNING, StateType.COMPLETED]
        assert ended.start_time is not None and ended.pid is not None
        wait_until(lambda: h.in_flight() == 0)
    finally:
        h.sup.stop()


def test_a_reporter_that_dies_is_restarted_and_no_report_is_lost(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}], limit=2)
    try:
        first, second = h.create_run("job"), h.create_run("job")
        h.sup.nudge()
        for run in (first, second):
            h.wait_state(run, StateType.RUNNING)
        # Given the reporter meets a bug on its next write
        h.plane.fail_next(1, RuntimeError("driver bug"), only={"set_state"})
        h.process(first).exit(0)
        wait_until(lambda: h.sup.board.get("state-reporter")["restarts"] == 1)
        # Then the report it held lands through its restarted self, and run actors that
        # started before the restart report to the new one
        h.wait_state(first, StateType.COMPLETED)
        h.process(second).exit(0)
        h.wait_state(second, StateType.COMPLETED)
        wait_until(lambda: h.in_flight() == 0)
    finally:
        h.sup.stop()


def test_a_wait_answer_to_running_is_proposed_again_after_its_delay(tmp_path, monkeypatch):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}])
    try:
        # Given a control plane that holds the first RUNNING back for 5 s (Prefect's WAIT)
        real = h.plane.set_state
        answered: list[OrchestrationStatus] = []

        def wait_once(run_id, state, **kwargs):
            if state.type is StateType.RUNNING and not answered:
                answered.append(OrchestrationStatus.WAIT)
                return OrchestrationResult(status=OrchestrationStatus.WAIT, retry_after=5.0,
                                           reason="Scheduled time is in the future")
            return real(run_id, state, **kwargs)

        monkeypatch.setattr(h.plane, "set_state", wait_once)
        run = h.create_run("job")
        h.sup.nudge()
        h.process(run)
        wait_until(lambda: answered, message="RUNNING answered WAIT")
        assert h.state(run) is StateType.PENDING
        # When the delay passes, RUNNING is proposed again and lands
        h.advance_until(lambda: h.state(run) is StateType.RUNNING, step=1.0)
        assert h.state(run) is StateType.RUNNING
    finally:
        h.sup.stop()


def test_health_says_steadily_since_when_the_control_plane_is_down_then_recovers(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"], "interval": 5}])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        h.wait_state(run, StateType.RUNNING)
        assert h.sup.health() == (True, "ok")
        # Given the control plane goes down (every call fails) and a run ends meanwhile
        h.plane.fail_next(100_000, ControlPlaneUnavailable("database is locked"))
        down_at = h.clock.now()
        process.exit(0)
        reporter = lambda: h.sup.board.get("state-reporter")  # noqa: E731
        wait_until(lambda: reporter()["owns"].get("pending") == 1, message="report held back")
        # When 60 s pass, health is asked every second
        answers = set()
        for _ in range(60):
            h.advance(1.0)
            answers.add(h.sup.health())
        # Then it said one steady thing: unavailable since the outage began, 1 report queued
        assert len(answers) == 1, answers
        ok, reason = answers.pop()
        assert not ok
        assert reason.startswith("control plane unavailable since ")
        assert reason.endswith(", 1 reports queued")
        since = reason.removeprefix("control plane unavailable since ").split(",")[0]
        assert since == f"{down_at:%Y-%m-%d %H:%M:%S}Z"
        # And once the control plane is back and the report has landed, it is healthy again
        h.plane.heal()
        h.advance_until(lambda: h.sup.health()[0], step=1.0, timeout=30)
        assert h.sup.health() == (True, "ok")
        assert h.state(run) is StateType.COMPLETED
    finally:
        h.plane.heal()
        h.sup.stop()


def test_reports_waiting_in_a_dying_reporters_mailbox_are_not_lost(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}], limit=4)
    try:
        runs = [h.create_run("job") for _ in range(4)]
        h.sup.nudge()
        for run in runs:
            h.wait_state(run, StateType.RUNNING)
        # Given the reporter is stuck in a write that will fail with a bug (found by
        # scripts/chaos: pykka drops what waits in a dead actor's inbox)
        entered, release = threading.Event(), threading.Event()
        real = h.plane.set_state

        def stuck_then_bug(*args, **kwargs):
            if not entered.is_set():
                entered.set()
                release.wait(10)
                raise RuntimeError("driver bug")
            return real(*args, **kwargs)

        h.plane.set_state = stuck_then_bug
        h.process(runs[0]).exit(0)
        assert entered.wait(5)
        # and the other runs' terminal reports wait in its mailbox
        for run in runs[1:]:
            h.process(run).exit(0)
        wait_until(lambda: h.in_flight() == 0)
        # When it dies
        release.set()
        wait_until(lambda: h.sup.board.get("state-reporter")["restarts"] == 1)
        # Then every report lands through its restarted self
        for run in runs:
            h.wait_state(run, StateType.COMPLETED)
    finally:
        h.sup.stop()
