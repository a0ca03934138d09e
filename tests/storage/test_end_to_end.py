"""Pulled code under the real supervisor: real SQLite, processes, git over HTTP with a token."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from tests.integration.system import settings_for, started, wait_terminal
from tests.storage.githttp import GitHttpServer
from tests.storage.repos import RemoteRepo
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

TOKEN = "tok-e2e-0f1e2d3c-SECRET"


def test_runs_execute_pulled_code_and_a_broken_remote_fails_only_its_runs(
    tmp_path: Path,
    remote: RemoteRepo,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("E2E_TOKEN", TOKEN)
    old_sha = remote.commit({"flow.py": "print('running version 1')\n"})
    server = GitHttpServer(remote.bare.parent, "x-access-token", TOKEN)
    deployments = [
        {
            "name": "pulled",
            "command": [sys.executable, "flow.py"],
            "storage": {
                "url": server.url(remote.bare.name),
                "pull_interval": 0.3,
                "token_env": "E2E_TOKEN",
            },
        },
        {
            "name": "broken",
            "command": [sys.executable, "flow.py"],
            "storage": {"url": (tmp_path / "nope.git").as_uri(), "token_env": "E2E_TOKEN"},
        },
        {"name": "plain", "command": [sys.executable, "-c", "pass"]},
    ]
    settings = settings_for(tmp_path, deployments)
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    with server:
        sup = started(settings)
        try:
            first = wait_terminal(plane, plane.create_run("pulled"))
            broken = wait_terminal(plane, plane.create_run("broken"))
            plain = wait_terminal(plane, plane.create_run("plain"))
            new_sha = remote.commit({"flow.py": "print('running version 2')\n"})
            wait_until(
                lambda: any(e["owns"].get("commit") == new_sha for e in sup.board.entries()),
                10, message="the new commit pulled",
            )  # fmt: skip
            second = wait_terminal(plane, plane.create_run("pulled"))
        finally:
            sup.stop()

    assert first.state.type is StateType.COMPLETED, first.state.message
    assert second.state.type is StateType.COMPLETED, second.state.message
    assert (first.commit, second.commit) == (old_sha, new_sha)  # recorded on the run
    assert plain.state.type is StateType.COMPLETED
    assert broken.state.type is StateType.CRASHED
    assert broken.state.message.startswith("code pull failed: fetching branch 'main' from file://")
    logs = {p.read_text() for p in settings.supervisor.log_dir.rglob("*.log")}
    assert "running version 1\n" in logs and "running version 2\n" in logs
    assert server.seen and set(server.seen) == {server.expected}  # the token did the pulling

    leaked = [p for p in tmp_path.rglob("*") if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert leaked == []  # the database and its WAL, run logs, checkouts, the repository's config
    assert TOKEN not in caplog.text


def test_a_long_run_keeps_its_commit_while_a_new_one_is_pulled_and_run(
    tmp_path: Path, remote: RemoteRepo
) -> None:
    gate = tmp_path / "gate"
    # Version 1 waits for the gate, then prints its own source as it is on disk at that moment.
    remote.commit(
        {
            "flow.py": "import pathlib, time\n"
            f"while not pathlib.Path({str(gate)!r}).exists():\n"
            "    time.sleep(0.01)\n"
            "print(open('flow.py').read().count('time'), 'v1 to the end')\n"
        }
    )
    deployments = [
        {
            "name": "job",
            "command": [sys.executable, "flow.py"],
            "storage": {"url": remote.url, "pull_interval": 0.2},
        }
    ]
    settings = settings_for(tmp_path, deployments, limit=2)
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    sup = started(settings)
    try:
        long_run = plane.create_run("job")
        wait_until(lambda: plane.read_run(long_run.id).state.type is StateType.RUNNING, 10)
        new_sha = remote.commit({"flow.py": "print('v2')\n"})
        wait_until(
            lambda: any(e["owns"].get("commit") == new_sha for e in sup.board.entries()),
            10, message="the new commit pulled",
        )  # fmt: skip
        short = wait_terminal(plane, plane.create_run("job"))
        gate.touch()
        long_done = wait_terminal(plane, long_run)
    finally:
        sup.stop()
    assert short.state.type is StateType.COMPLETED and short.commit == new_sha
    assert long_done.state.type is StateType.COMPLETED and long_done.commit != new_sha
    logs = {p.read_text() for p in settings.supervisor.log_dir.rglob("*.log")}
    assert logs == {"v2\n", "3 v1 to the end\n"}
