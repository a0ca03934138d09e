"""The ops scripts in scripts/, run as programs against a real ops server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.ops.server import OpsServer
from tests.ops.fakes import RUN_ID, FakeView
from tests.ops.test_status_cli import write_config

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def script(name: str, *args: str, env: dict[str, str] | None = None
           ) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "SUPERVISOR_OPS_URL"}
    return subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True,
        timeout=60, env={**environ, **(env or {})},
    )


def test_scripts_are_executable() -> None:
    for name in ("supervisor-health", "runs-in-flight"):
        assert os.access(SCRIPTS / name, os.X_OK)
        assert (SCRIPTS / name).read_text().startswith("#!/usr/bin/env python3\n")


def test_health_ok(server: OpsServer) -> None:
    result = script("supervisor-health", "--url", server.url)
    assert (result.returncode, result.stdout, result.stderr) == (
        0, "ok: test-sup: pollers ticked 0.2s ago\n", ""
    )


def test_health_unhealthy_exits_1(server: OpsServer, view: FakeView) -> None:
    view.healthy = (False, "schedule-poller has not ticked for 31s")
    result = script("supervisor-health", "--url", server.url)
    assert result.returncode == 1
    assert result.stdout == "unhealthy: test-sup: schedule-poller has not ticked for 31s\n"


def test_health_sees_a_failed_actor_and_too_many_restarts(
    server: OpsServer, view: FakeView
) -> None:
    view.board.update("cancel-poller", restarts=3)
    assert script("supervisor-health", "--url", server.url, "--max-restarts", "3").returncode == 0
    result = script("supervisor-health", "--url", server.url, "--max-restarts", "2", "-q")
    assert (result.returncode, result.stdout) == (1, "")
    view.board.update("schedule-poller", state="failed", last_error="OSError: boom")
    result = script("supervisor-health", "--url", server.url)
    assert result.returncode == 1
    assert "actor schedule-poller failed: OSError: boom" in result.stdout


def test_health_finds_the_supervisor_by_config_and_by_env(
    server: OpsServer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, server.port)
    assert script("supervisor-health", "--config", str(config)).returncode == 0
    assert script("supervisor-health", env={"SUPERVISOR_CONFIG": str(config)}).returncode == 0
    assert script("supervisor-health", env={"SUPERVISOR_OPS_URL": server.url}).returncode == 0


def test_unreachable_exits_2_with_one_line(refused_port: int) -> None:
    for name in ("supervisor-health", "runs-in-flight"):
        result = script(name, "--url", f"http://127.0.0.1:{refused_port}")
        assert result.returncode == 2
        assert result.stderr == (
            f"{name}: no supervisor answering at 127.0.0.1:{refused_port} (Connection refused)\n"
        )


def test_bad_config_and_bad_usage(tmp_path: Path) -> None:
    result = script("supervisor-health", "--config", str(tmp_path / "missing.toml"))
    assert (result.returncode, result.stderr) == (
        2, f"supervisor-health: {tmp_path / 'missing.toml'}: no such settings file\n"
    )
    result = script("runs-in-flight", "--ids", "--pids")
    assert result.returncode == 64
    assert "not allowed with argument" in result.stderr


def test_runs_in_flight_lines(server: OpsServer) -> None:
    result = script("runs-in-flight", "--url", server.url)
    assert result.returncode == 0
    assert result.stdout.split("\t") == [
        str(RUN_ID), "nightly", "RUNNING", "4100", "4",
        str((48 << 20) + (1 << 20) * 2 + (900 << 10)),
        "2026-11-22T03:00:00+00:00\n",
    ]


@pytest.mark.parametrize(
    ("args", "out"),
    [(["--ids"], f"{RUN_ID}\n"), (["--pids"], "4100\n4101\n4102\n4103\n"), (["-q"], ""),
     (["-d", "nightly", "--ids"], f"{RUN_ID}\n"), (["-s", "running", "--ids"], f"{RUN_ID}\n")],
)
def test_runs_in_flight_shapes_and_filters(server: OpsServer, args: list[str], out: str) -> None:
    result = script("runs-in-flight", "--url", server.url, *args)
    assert (result.returncode, result.stdout) == (0, out)


def test_runs_in_flight_json_lines(server: OpsServer, view: FakeView) -> None:
    result = script("runs-in-flight", "--url", server.url, "--json")
    assert [json.loads(line) for line in result.stdout.splitlines()] == view.runs_in_flight()


@pytest.mark.parametrize("args", [["-d", "other"], ["-s", "CANCELLING"]])
def test_runs_in_flight_exits_1_when_none_match(server: OpsServer, args: list[str]) -> None:
    result = script("runs-in-flight", "--url", server.url, *args)
    assert (result.returncode, result.stdout, result.stderr) == (1, "", "")


def test_a_python_without_the_package_gets_a_clear_line() -> None:
    for name in ("supervisor-health", "runs-in-flight"):
        result = subprocess.run(  # -S: no site-packages, so no installed `supervisor`
            [sys.executable, "-S", str(SCRIPTS / name)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert result.stderr.startswith(f"{name}: cannot import the supervisor package")
