"""Nudges make run-now and cancel immediate; a locked database loses no state report."""

from __future__ import annotations

import json
import socket
import sqlite3
import subprocess
import sys
import threading
import tomllib
import uuid
from pathlib import Path

import pytest

from actors.messages import CancelRequested
from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from supervisor.settings import parse_settings
from tests import leaks
from tests.integration.system import python, settings_for, started, states, wait_terminal
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_cli_run_and_cancel_reach_a_live_supervisor_long_before_its_next_poll(tmp_path: Path):
    # Given a supervisor that polls only once a minute, with its ops API on a known port
    port = free_port()
    config = tmp_path / "supervisor.toml"
    command = json.dumps(python("import signal; signal.pause()"))
    config.write_text(
        '[supervisor]\nname = "nudged"\npoll_interval = 60\ncancel_poll_interval = 60\n'
        f"[ops]\nport = {port}\n"
        f'[[deployments]]\nname = "nap"\ncommand = {command}\n'
    )
    settings = parse_settings(tomllib.loads(config.read_text()), config, env={})
    sup = started(settings)
    plane = LocalControlPlane(settings.supervisor.database)
    try:
        wait_until(lambda: (sup.board.get("schedule-poller") or {}).get("last_tick"), 10)
        # When the CLI creates a run now
        out = subprocess.run(
            [sys.executable, "-m", "supervisor", "--config", str(config), "run", "nap"],
            capture_output=True,
            text=True,
            check=True,
        )
        run_id = uuid.UUID(out.stdout.strip())
        # Then it runs without waiting for the 60 s poll
        wait_until(lambda: plane.read_run(run_id).state.type is StateType.RUNNING, 20)
        # And a CLI cancel ends it without waiting for the 60 s cancellation poll
        subprocess.run(
            [sys.executable, "-m", "supervisor", "--config", str(config), "cancel", str(run_id)],
            capture_output=True,
            text=True,
            check=True,
        )
        assert wait_terminal(plane, run_id, timeout=20).state.type is StateType.CANCELLED
        assert leaks.processes_of_session() == []
    finally:
        sup.stop()


def test_a_locked_database_delays_state_reports_but_loses_none(tmp_path: Path):
    settings = settings_for(
        tmp_path, [{"name": "nap", "command": python("import signal; signal.pause()")}]
    )
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    run = plane.create_run("nap")
    sup = started(settings)
    blocker = sqlite3.connect(settings.supervisor.database, timeout=0.1)
    try:
        wait_until(lambda: plane.read_run(run.id).state.type is StateType.RUNNING, 20)
        # Given another process holds the write lock
        blocker.execute("BEGIN EXCLUSIVE")
        # When the run is cancelled through the actors (not the locked database), so its
        # terminal state must be reported while the database is locked
        sup._tell_root(CancelRequested(run.id, "the test"))
        wait_until(lambda: leaks.processes_of_session() == [], 20, message="tree gone")
        wait_until(
            lambda: (sup.board.get("state-reporter") or {}).get("failing"),
            30,
            message="the reporter saw the lock",
        )
        ok, reason = sup.health()
        assert not ok and reason.startswith("control plane unavailable since ")
        assert reason.endswith(", 1 reports queued")
        blocker.rollback()
        final = wait_terminal(plane, run, timeout=30)
        wait_until(lambda: sup.health() == (True, "ok"), 30, message="healthy again")
    finally:
        blocker.close()
        sup.stop()
    assert final.state.type is StateType.CANCELLED
    assert states(plane, final).count(StateType.CANCELLED) == 1


class _Hanging:
    """The real SQLite adapter, except that reads hang while `held` is set (a server that took
    the request and never answers, or a lock longer than the busy timeout)."""

    def __init__(self, plane: LocalControlPlane) -> None:
        self._plane = plane
        self.held = threading.Event()
        self.released = threading.Event()

    def _hang(self) -> None:
        if self.held.is_set():
            self.released.wait(60)

    def read_scheduled_runs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._hang()
        return self._plane.read_scheduled_runs(*args, **kwargs)

    def read_cancelling_runs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        self._hang()
        return self._plane.read_cancelling_runs(*args, **kwargs)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._plane, name)


def test_health_names_a_hanging_control_plane_not_the_pollers_it_stalls(tmp_path: Path):
    settings = settings_for(tmp_path, [{"name": "hello", "command": python("print('hi')")}],
                            poll_interval=0.1, cancel_poll_interval=0.1)
    plane = LocalControlPlane(settings.supervisor.database)
    hanging = _Hanging(plane)
    sup = started(settings, control_plane=hanging)
    try:
        wait_until(lambda: sup.health()[0], 10, message="healthy at first")
        # When every read stops coming back (no error: it just waits)
        hanging.held.set()
        ok, reason = wait_until(lambda: None if (h := sup.health())[0] else h, 30,
                                message="unhealthy once the pollers are overdue")
        # Then health says so, steadily, and not which poller is overdue because of it
        assert reason.startswith("control plane unavailable since "), reason
        assert sup.health() == (ok, reason)
        hanging.held.clear()
        hanging.released.set()
        wait_until(lambda: sup.health() == (True, "ok"), 30, message="healthy again")
    finally:
        hanging.released.set()
        sup.stop()
        plane.close()


class _FaultyOnce:
    """The real SQLite adapter, except that one read raises an unexpected error (a bug)."""

    def __init__(self, plane: LocalControlPlane) -> None:
        self._plane = plane
        self.armed = False

    def read_scheduled_runs(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if self.armed:
            self.armed = False
            raise RuntimeError("driver bug")
        return self._plane.read_scheduled_runs(*args, **kwargs)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._plane, name)


def test_a_poller_that_raises_is_restarted_and_the_system_keeps_serving(tmp_path: Path):
    settings = settings_for(tmp_path, [{"name": "hello", "command": python("print('hi')")}])
    plane = LocalControlPlane(settings.supervisor.database)
    faulty = _FaultyOnce(plane)
    sup = started(settings, control_plane=faulty)
    try:
        wait_until(lambda: (sup.board.get("schedule-poller") or {}).get("last_tick"), 10)
        faulty.armed = True
        sup.nudge()
        wait_until(lambda: sup.board.get("schedule-poller")["restarts"] == 1, 10)
        run = plane.create_run("hello")
        sup.nudge()
        assert wait_terminal(plane, run).state.type is StateType.COMPLETED
        assert "driver bug" in sup.board.get("schedule-poller")["last_error"]
    finally:
        sup.stop()
        plane.close()


def test_a_second_supervisor_of_the_same_name_is_refused_and_leaves_the_live_ones_runs(
    tmp_path: Path,
):
    from supervisor.errors import SupervisorAlreadyRunning
    from supervisor.system import Supervisor

    settings = settings_for(
        tmp_path, [{"name": "nap", "command": python("import signal; signal.pause()")}]
    )
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    runs = [plane.create_run("nap") for _ in range(3)]
    first = started(settings)
    try:
        wait_until(
            lambda: all(plane.read_run(r.id).state.type is StateType.RUNNING for r in runs), 20
        )
        # When a second supervisor with the same name starts on the same database
        second = Supervisor(settings)
        with pytest.raises(SupervisorAlreadyRunning, match="'it' is already running on"):
            second.start()
        # Then the live supervisor's runs are untouched: still RUNNING, processes alive
        assert all(plane.read_run(r.id).state.type is StateType.RUNNING for r in runs)
        assert len(leaks.processes_of_session()) == 3
        assert len(first.runs_in_flight()) == 3
    finally:
        first.stop()
    # And once the first has stopped, the name is free again
    again = started(settings)
    again.stop()
