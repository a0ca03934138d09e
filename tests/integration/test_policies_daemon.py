"""The policies across a `kill -9` of a real daemon, and their CLI verbs on a real database."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from supervisor.models import StateType
from tests import leaks
from tests.integration.test_daemon import cli, create_run, plane_of, write_config
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

PROGRAMS = Path(__file__).parent.parent / "programs"
UNTIL_ENDED = [sys.executable, "-c", "import signal; print('up', flush=True); signal.pause()"]
"""A run that is up until something ends it (its timeout, a kill)."""


def deployment_toml(name: str, command: list[str], **keys: object) -> str:
    lines = ["[[deployments]]", f"name = {json.dumps(name)}", f"command = {json.dumps(command)}"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    return "\n".join(lines) + "\n"


def stop(daemon: subprocess.Popen[str]) -> None:
    daemon.send_signal(signal.SIGTERM)
    _, err = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, err


def test_a_retry_waiting_when_the_supervisor_is_killed_runs_after_its_restart(tmp_path: Path):
    # Given a run whose first attempt failed and whose retry is due in 3 s
    counter = tmp_path / "attempts"
    flaky = [sys.executable, str(PROGRAMS / "flaky.py"), str(counter), "2"]
    config = write_config(tmp_path, deployment_toml("flaky", flaky, retries=1, retry_delay=3))
    run_id = create_run(config, "flaky")
    plane = plane_of(config)
    daemon = cli(config, "start")
    try:
        waiting = wait_until(
            lambda: (r := plane.read_run(run_id)).state.name == "AwaitingRetry" and r, 20,
            message="awaiting its retry")
    finally:
        # When the supervisor is killed between the attempts
        daemon.kill()
        daemon.communicate(timeout=10)
    assert counter.read_text() == "1"
    # Then a new supervisor runs the retry at its time: same run, attempt 2
    again = cli(config, "start")
    try:
        final = wait_until(
            lambda: (r := plane.read_run(run_id)).state.type.is_terminal and r, 30,
            message="the retry ran")
    finally:
        stop(again)
    assert final.state.type is StateType.COMPLETED and final.run_count == 2
    assert final.start_time is not None and final.start_time >= waiting.scheduled_time


def test_concurrency_slots_do_not_leak_across_a_kill_9(tmp_path: Path):
    # Given concurrency 1, three runs due, and the first one's tree running
    nap = UNTIL_ENDED
    config = write_config(tmp_path, deployment_toml("one", nap, concurrency=1, timeout=1.5))
    runs = [create_run(config, "one") for _ in range(3)]
    plane = plane_of(config)
    daemon = cli(config, "start")
    try:
        first = wait_until(lambda: plane.read_runs(states=[StateType.RUNNING]), 20,
                           message="one run running")
    finally:
        # When the supervisor is killed with that slot taken
        daemon.kill()
        daemon.communicate(timeout=10)
    most, done = 0, threading.Event()

    def watch() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, len(plane.read_runs(states=[StateType.PENDING, StateType.RUNNING])))

    # Then after a restart the slot is free again: the other runs go, one at a time
    again = cli(config, "start")
    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        finals = [wait_until(lambda r=r: (x := plane.read_run(r)).state.type.is_terminal and x,
                             30, message="terminal") for r in runs]
    finally:
        done.set()
        watcher.join()
        stop(again)
    by_id = {r.id: r for r in finals}
    assert "supervisor restarted" in by_id[first[0].id].state.message
    others = [r for r in finals if r.id != first[0].id]
    assert all(r.state.name == "TimedOut" for r in others)  # each ran, alone, to its timeout
    assert most == 1
    assert leaks.processes_of_session() == []


def test_retry_pause_resume_and_runs_follow_from_the_cli(tmp_path: Path):
    config = write_config(
        tmp_path, deployment_toml("job", [sys.executable, "-c", "import sys; sys.exit(4)"]))
    run_id = create_run(config, "job")
    plane = plane_of(config)
    lines: queue.Queue[str] = queue.Queue()
    follower = cli(config, "runs", "--follow", "--json")
    reader = threading.Thread(target=lambda: [lines.put(x) for x in follower.stdout or ()])
    reader.start()
    seen: list[dict[str, object]] = []

    def saw(name: str, count: int) -> bool:
        while not lines.empty():
            seen.append(json.loads(lines.get()))
        return sum(r["state"]["name"] == name for r in seen) >= count  # type: ignore[index]

    daemon = cli(config, "start")
    try:
        wait_until(lambda: saw("Crashed", 1), 30, message="runs --follow shows the crash")
        # retry: the same run again, as attempt 2
        out = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(config),
                              "retry", str(run_id), "--json"], capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout)["state"]["name"] == "AwaitingRetry"
        wait_until(lambda: saw("Crashed", 2), 30, message="the retried run crashed again")
        assert seen[-1]["run_count"] == 2 and seen[-1]["id"] == str(run_id)
        # pause holds new runs; a run not finished cannot be retried; resume lets it go
        def supervisor(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([sys.executable, "-m", "supervisor", "--config", str(config),
                                   *args], capture_output=True, text=True)

        paused = supervisor("pause", "job")
        assert (paused.returncode, paused.stdout.strip()) == (0, "job  paused"), paused.stderr
        held = create_run(config, "job")
        refused = supervisor("retry", str(held))
        assert refused.returncode == 1
        assert "is SCHEDULED: only a finished run can be retried" in refused.stderr
        assert plane.read_run(held).state.type is StateType.SCHEDULED
        resumed = supervisor("resume", "job")
        assert (resumed.returncode, resumed.stdout.strip()) == (0, "job  resumed")
        wait_until(lambda: plane.read_run(held).state.type.is_terminal, 30, message="resumed")
    finally:
        stop(daemon)
        follower.send_signal(signal.SIGINT)
        follower.communicate(timeout=10)
        reader.join()
    assert follower.returncode == 130
    refused = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(config),
                              "pause", "nope"], capture_output=True, text=True)
    assert refused.returncode == 1 and "no deployment named 'nope'" in refused.stderr


def test_a_run_killed_with_its_supervisor_is_retried_after_the_restart(tmp_path: Path):
    # Given a deployment that retries, its first attempt running (for a minute)
    counter = tmp_path / "attempts"
    flaky = [sys.executable, str(PROGRAMS / "flaky.py"), str(counter), "2", "60"]
    config = write_config(tmp_path, deployment_toml("flaky", flaky, retries=2))
    run_id = create_run(config, "flaky")
    plane = plane_of(config)
    daemon = cli(config, "start")
    try:
        wait_until(lambda: counter.exists() and plane.read_run(run_id).state.type
                   is StateType.RUNNING, 20, message="attempt 1 running")
    finally:
        # When the supervisor is killed mid-attempt
        daemon.kill()
        daemon.communicate(timeout=10)
    # Then its restart ends the leftover tree and retries the run instead of leaving it CRASHED
    again = cli(config, "start")
    try:
        final = wait_until(
            lambda: (r := plane.read_run(run_id)).state.type.is_terminal and r, 30,
            message="the retry ran")
    finally:
        stop(again)
    assert final.state.type is StateType.COMPLETED and final.run_count == 2
    names = [s.name for s in plane.read_states(run_id)]
    assert "AwaitingRetry" in names and "Crashed" not in names
    retry = next(s for s in plane.read_states(run_id) if s.name == "AwaitingRetry")
    assert "supervisor restarted" in retry.message
    assert leaks.processes_of_session() == []


def test_on_failure_runs_for_a_run_a_killed_supervisor_left_behind(tmp_path: Path):
    # Given a run in flight, with an on_failure hook
    seen = tmp_path / "hook.json"
    nap = UNTIL_ENDED
    hook = [sys.executable, str(PROGRAMS / "hook_env.py"), str(seen)]
    config = write_config(tmp_path, deployment_toml("nap", nap, on_failure=hook))
    run_id = create_run(config, "nap")
    plane = plane_of(config)
    daemon = cli(config, "start")
    try:
        wait_until(lambda: plane.read_run(run_id).state.type is StateType.RUNNING, 20,
                   message="running")
    finally:
        # When the supervisor is killed, and started again
        daemon.kill()
        daemon.communicate(timeout=10)
    again = cli(config, "start")
    try:
        # Then the restart closes the run out CRASHED and its hook hears of it
        wait_until(seen.exists, 30, message="the on_failure hook ran")
    finally:
        stop(again)
    env = json.loads(seen.read_text())
    final = plane.read_run(run_id)
    assert final.state.type is StateType.CRASHED
    assert env["SUPERVISOR_RUN_ID"] == str(run_id) and env["SUPERVISOR_STATE"] == "CRASHED"
    assert "supervisor restarted" in env["SUPERVISOR_STATE_MESSAGE"]
    assert env["SUPERVISOR_RUN_COUNT"] == "1"
    assert leaks.processes_with(f"SUPERVISOR_RUN_ID={run_id}".encode()) == []
