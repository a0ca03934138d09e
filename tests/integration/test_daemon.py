"""`python -m supervisor start` as a real daemon: signals, --once, execute, kill -9 and restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from tests import leaks
from tests.integration.system import wait_terminal
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

TREE = (
    "import signal, subprocess, sys;"
    "subprocess.Popen([sys.executable, '-c', 'import signal; signal.pause()']);"
    "print('started', flush=True); signal.pause()"
)


def write_config(tmp: Path, deployments: str, **supervisor: object) -> Path:
    options = {
        "name": "daemon",
        "poll_interval": 0.2,
        "cancel_poll_interval": 0.2,
        "kill_grace": 2.0,
        **supervisor,
    }
    lines = ["[supervisor]"] + [f"{k} = {json.dumps(v)}" for k, v in options.items()]
    lines += ["", "[ops]", "enabled = false", "", deployments]
    path = tmp / "supervisor.toml"
    path.write_text("\n".join(lines))
    return path


def tree_deployment() -> str:
    return f'[[deployments]]\nname = "tree"\ncommand = {json.dumps([sys.executable, "-c", TREE])}\n'


def cli(config: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "supervisor", "--config", str(config), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def create_run(config: Path, deployment: str) -> uuid.UUID:
    out = subprocess.run(
        [sys.executable, "-m", "supervisor", "--config", str(config), "run", deployment],
        capture_output=True,
        text=True,
        check=True,
    )
    return uuid.UUID(out.stdout.strip())


def plane_of(config: Path) -> LocalControlPlane:
    return LocalControlPlane(config.parent / ".supervisor" / "state.db")


def tree_running(plane: LocalControlPlane, run_id: uuid.UUID) -> bool:
    cookie = f"SUPERVISOR_RUN_ID={run_id}".encode()
    count = 0
    for pid, _ in leaks.processes_of_session():
        try:
            with open(f"/proc/{pid}/environ", "rb") as handle:
                count += cookie in handle.read().split(b"\0")
        except OSError:
            continue
    return count >= 2 and plane.read_run(run_id).state.type is StateType.RUNNING


def daemon_with_a_tree(
    tmp: Path, *options: str
) -> tuple[Path, uuid.UUID, LocalControlPlane, subprocess.Popen[str]]:
    """`start` running a run whose tree (a child and a grandchild) is up."""
    config = write_config(tmp, tree_deployment())
    run_id = create_run(config, "tree")
    plane = plane_of(config)
    daemon = cli(config, "start", *options)
    try:
        wait_until(lambda: tree_running(plane, run_id), 20, message="tree running")
    except BaseException:
        daemon.kill()
        daemon.communicate(timeout=10)
        raise
    return config, run_id, plane, daemon


def test_sigterm_ends_every_tree_marks_runs_cancelled_and_exits_zero(tmp_path: Path):
    _, run_id, plane, daemon = daemon_with_a_tree(tmp_path)
    try:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    finally:
        daemon.kill() if daemon.poll() is None else None
    assert daemon.returncode == 0, err
    assert "Traceback" not in err
    final = plane.read_run(run_id)
    assert final.state.type is StateType.CANCELLED
    assert "supervisor shutting down" in final.state.message
    assert leaks.processes_of_session() == []


def test_a_second_signal_kills_at_once_during_a_drain(tmp_path: Path):
    _, run_id, plane, daemon = daemon_with_a_tree(tmp_path, "--drain", "300")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(daemon.stderr or []), daemon=True)
    reader.start()
    try:
        daemon.send_signal(signal.SIGTERM)
        wait_until(lambda: any("drain" in line for line in lines), 10, message="draining")
        assert tree_running(plane, run_id), "a drain lets the run go on"
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
        reader.join(timeout=10)
    finally:
        daemon.kill() if daemon.poll() is None else None
        daemon.stdout.close()  # type: ignore[union-attr]
        daemon.stderr.close()  # type: ignore[union-attr]
    assert daemon.returncode == 0
    assert plane.read_run(run_id).state.type is StateType.CANCELLED
    assert leaks.processes_of_session() == []


def test_kill_9_then_restart_resolves_the_orphaned_run_and_leaves_nothing(tmp_path: Path):
    config, run_id, plane, daemon = daemon_with_a_tree(tmp_path)
    daemon.kill()  # SIGKILL: no chance to clean up
    daemon.communicate(timeout=10)
    assert len(leaks.processes_of_session()) >= 2, "the tree outlives a killed supervisor"
    again = cli(config, "start", "--once")
    _, err = again.communicate(timeout=60)
    assert again.returncode == 0, err
    final = plane.read_run(run_id)
    assert final.state.type is StateType.CRASHED
    assert "supervisor restarted" in final.state.message
    assert leaks.processes_of_session() == []


def test_start_once_runs_what_is_due_and_exits(tmp_path: Path):
    hello = json.dumps([sys.executable, "-c", "print('hello once')"])
    config = write_config(tmp_path, f'[[deployments]]\nname = "hello"\ncommand = {hello}\n')
    run_id = create_run(config, "hello")
    done = cli(config, "start", "--once")
    _, err = done.communicate(timeout=60)
    assert done.returncode == 0, err
    final = wait_terminal(plane_of(config), run_id, timeout=5)
    assert final.state.type is StateType.COMPLETED


def test_execute_runs_one_run_and_exits_with_its_code(tmp_path: Path):
    fail = json.dumps([sys.executable, "-c", "import sys; print('bye'); sys.exit(4)"])
    config = write_config(tmp_path, f'[[deployments]]\nname = "fail"\ncommand = {fail}\n')
    run_id = create_run(config, "fail")
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", "--config", str(config), "execute", str(run_id)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 4, result.stderr
    assert "exited with code 4" in result.stderr
    bad = subprocess.run(
        [sys.executable, "-m", "supervisor", "--config", str(config), "execute", str(uuid.uuid4())],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and "no run with id" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_no_process_escapes_the_environment_check(tmp_path: Path):
    """The leak check itself can fail: a process carrying the session cookie is seen."""
    child = subprocess.Popen(
        [sys.executable, "-c", "import signal; signal.pause()"], env=dict(os.environ)
    )
    try:
        wait_until(lambda: any(pid == child.pid for pid, _ in leaks.processes_of_session()), 10)
    finally:
        child.kill()
        child.wait()
