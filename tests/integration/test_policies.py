"""The run policies end to end: real SQLite, real processes (tests/programs/), real time."""

from __future__ import annotations

import itertools
import json
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supervisor.clock import FakeClock
from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from tests import leaks
from tests.integration.system import python, settings_for, started, wait_terminal
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).parent.parent / "programs"


def program(name: str, *args: str) -> list[str]:
    return [sys.executable, str(PROGRAMS / name), *args]


def test_a_flaky_command_succeeds_on_attempt_3_with_a_log_section_per_attempt(tmp_path: Path):
    counter = tmp_path / "attempts"
    settings = settings_for(tmp_path, [{
        "name": "flaky", "command": program("flaky.py", str(counter), "3"),
        "retries": 3, "retry_delay": [0.3, 0.5],
    }])
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    run = plane.create_run("flaky")
    sup = started(settings)
    try:
        final = wait_until(
            lambda: (r := plane.read_run(run.id)).state.type is StateType.COMPLETED and r, 30,
            message="attempt 3 completes")
        metrics = sup.metrics.registry
    finally:
        sup.stop()
    assert final.run_count == 3 and counter.read_text() == "3"
    history = plane.read_states(run.id)
    retries = [s for s in history if s.name == "AwaitingRetry"]
    assert [s.message.split(";")[0] for s in retries] == ["retry 1 of 3 in 0.3s",
                                                          "retry 2 of 3 in 0.5s"]
    # each retry waited its delay (a timer: the next RUNNING is not before it)
    running = [s.timestamp for s in history if s.type is StateType.RUNNING]
    assert running[1] - retries[0].timestamp >= timedelta(seconds=0.3)
    assert running[2] - retries[1].timestamp >= timedelta(seconds=0.5)
    log = (settings.supervisor.log_dir / f"{run.id}.log").read_text()
    sections = log.split("=== attempt ")
    assert [s.splitlines()[-1] for s in sections] == ["attempt 1", "attempt 2", "attempt 3"]
    assert metrics.get_sample_value("supervisor_run_retries_total", {"deployment": "flaky"}) == 2


def test_concurrency_1_holds_on_live_processes_while_five_runs_are_due(tmp_path: Path):
    settings = settings_for(tmp_path, [{
        "name": "one", "command": python("import time; time.sleep(0.2)"), "concurrency": 1,
    }], limit=4)
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    runs = [plane.create_run("one") for _ in range(5)]
    most, stop = 0, threading.Event()

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            live = plane.read_runs(states=[StateType.PENDING, StateType.RUNNING])
            most = max(most, len(live))

    watcher = threading.Thread(target=watch)
    sup = started(settings)
    watcher.start()
    try:
        finished = [wait_terminal(plane, run, 30) for run in runs]
    finally:
        stop.set()
        watcher.join()
        sup.stop()
    assert [r.state.type for r in finished] == [StateType.COMPLETED] * 5
    assert most == 1
    spans = sorted((r.start_time, r.end_time) for r in finished)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))


def test_a_supervisor_down_for_3_hours_runs_no_backlog(tmp_path: Path):
    # Given an every-2-hours schedule whose slots fell at 3h05 and 1h05 before now, the first
    # one already made into a run before the supervisor went down
    now = datetime.now(UTC)
    anchor = now - timedelta(hours=3, minutes=5)
    deployment = {"name": "etl", "command": python("pass"), "interval": 7200,
                  "anchor": anchor.isoformat(), "late_after": 60, "skip_late_after": 3600}
    settings = settings_for(tmp_path, [deployment])
    before = LocalControlPlane(settings.supervisor.database,
                               clock=FakeClock(anchor - timedelta(minutes=1)))
    before.register_deployments(settings.deployments)
    (made,) = before.read_scheduled_runs(["etl"], anchor + timedelta(seconds=1), 10)
    before.close()
    # When the supervisor starts again 3 hours later
    plane = LocalControlPlane(settings.supervisor.database)
    sup = started(settings)
    try:
        skipped = wait_until(
            lambda: len(found := plane.read_runs(states=[StateType.CANCELLED])) == 2 and found,
            20, message="both missed slots skipped")
        skips = sup.metrics.registry.get_sample_value(
            "supervisor_runs_skipped_total", {"deployment": "etl"})
    finally:
        sup.stop()
    # Then neither missed slot ran: both are CANCELLED "skipped", and the schedule goes on
    assert {r.scheduled_time for r in skipped} == {anchor, anchor + timedelta(hours=2)}
    assert made.id in {r.id for r in skipped}
    messages = sorted(r.state.message for r in skipped)
    assert messages[0].startswith("skipped: missed by 1h 5m")
    assert messages[1].startswith("skipped: missed by 3h 5m")
    assert all(r.start_time is None and r.pid is None for r in skipped)
    assert not any(settings.supervisor.log_dir.glob("*.log"))
    assert skips == 2
    (info,) = plane.read_deployments()
    assert info.next_run_time == anchor + timedelta(hours=4)


def test_hooks_see_the_runs_environment(tmp_path: Path):
    seen = tmp_path / "hook.json"
    settings = settings_for(tmp_path, [{
        "name": "bad", "command": program("exit_code.py", "3"),
        "on_failure": program("hook_env.py", str(seen)),
    }])
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    run = plane.create_run("bad", {"x": 1})
    sup = started(settings)
    try:
        final = wait_terminal(plane, run)
        wait_until(lambda: seen.exists(), 20, message="the hook wrote its environment")
        wait_until(lambda: sup.board.get(f"run-{run.id}") is None, 20, message="run actor done")
    finally:
        sup.stop()
    env = json.loads(seen.read_text())
    log_path = settings.supervisor.log_dir / f"{run.id}.log"
    assert env["SUPERVISOR_RUN_ID"] == str(run.id)
    assert env["SUPERVISOR_DEPLOYMENT"] == "bad"
    assert env["SUPERVISOR_HOOK"] == "on_failure"
    assert env["SUPERVISOR_STATE"] == final.state.type.value == "CRASHED"
    assert env["SUPERVISOR_STATE_MESSAGE"] == final.state.message
    assert env["SUPERVISOR_EXIT_CODE"] == "3"
    assert env["SUPERVISOR_LOG_PATH"] == str(log_path)
    assert env["SUPERVISOR_RUN_COUNT"] == "1"
    assert json.loads(env["SUPERVISOR_PARAMETERS"]) == {"x": 1}
    log = log_path.read_text()
    assert log.index("exiting with 3") < log.index("=== on_failure hook") < log.index("hook ran")


def test_on_failure_runs_for_a_run_that_crashed_before_it_could_start(tmp_path: Path):
    # Given a deployment whose code pull fails (no such repository): CRASHED, no process
    seen = tmp_path / "hook.json"
    settings = settings_for(tmp_path, [{
        "name": "nopull", "command": python("pass"),
        "storage": {"url": (tmp_path / "no-such-repo.git").as_uri()},
        "on_failure": program("hook_env.py", str(seen)),
    }])
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    run = plane.create_run("nopull")
    sup = started(settings)
    try:
        final = wait_terminal(plane, run)
        # Then its on_failure hook still runs, told why
        wait_until(lambda: seen.exists(), 20, message="the hook wrote its environment")
        wait_until(lambda: sup.board.get(f"run-{run.id}") is None, 20, message="run actor done")
    finally:
        sup.stop()
    env = json.loads(seen.read_text())
    assert final.state.type.value == env["SUPERVISOR_STATE"] == "CRASHED"
    assert env["SUPERVISOR_STATE_MESSAGE"].startswith("code pull failed")
    assert env["SUPERVISOR_EXIT_CODE"] == ""


@pytest.mark.parametrize("hook", [["daemon.py"], ["ignores_term.py", "2"]])
def test_a_hanging_hooks_whole_tree_ends_at_its_timeout(tmp_path: Path, hook: list[str]):
    # Given a completion hook that never ends: a double-forked daemon, or a tree ignoring TERM
    settings = settings_for(tmp_path, [{
        "name": "ok", "command": python("pass"), "kill_grace": 0.2,
        "on_completion": program(*hook),
    }])
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    run = plane.create_run("ok")
    sup = started(settings)
    try:
        # When it passes kill_grace x 10 (2 s), then its whole tree is ended and counted
        wait_until(lambda: sup.metrics.registry.get_sample_value(
            "supervisor_hook_failures_total", {"deployment": "ok", "hook": "on_completion"}),
            30, message="the hook's failure counted")
        wait_until(lambda: not leaks.processes_with(f"SUPERVISOR_RUN_ID={run.id}".encode()),
                   10, message="no process of the hook's tree left")
        wait_until(lambda: sup.board.get(f"run-{run.id}") is None, 10, message="run actor done")
    finally:
        sup.stop()
    # And the run's state is what the run did, not what its hook did
    assert plane.read_run(run.id).state.type is StateType.COMPLETED
