"""`python -m supervisor status` against a real ops server (fake system behind it)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.cli import main
from supervisor.ops.server import OpsServer
from tests.ops.fakes import RUN_ID, FakeView


def write_config(folder: Path, port: int, enabled: bool = True) -> Path:
    path = folder / "supervisor.toml"
    path.write_text(
        f'[supervisor]\nname = "test-sup"\n\n[ops]\nhost = "127.0.0.1"\nport = {port}\n'
        f"enabled = {'true' if enabled else 'false'}\n"
    )
    return path


@pytest.fixture
def config(tmp_path: Path, server: OpsServer) -> Path:
    return write_config(tmp_path, server.port)



def test_status_prints_actors_and_process_trees(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config), "status"]) == 0
    out = capsys.readouterr().out
    assert "● supervisor 'test-sup' at 127.0.0.1:" in out
    assert "├─ schedule-poller" in out
    assert f"└─ run-{RUN_ID}" in out
    assert "  4102  0.0   900K   sleeping  │  └─ sleep 100" in out


def test_status_json_gives_the_same_data(
    config: Path, view: FakeView, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--json", "--config", str(config)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {
        "health": {"status": "ok", "name": "test-sup", "reason": "pollers ticked 0.2s ago"},
        "actors": view.actor_states(),
        "runs": view.runs_in_flight(),
    }


def test_status_of_an_unhealthy_supervisor_exits_3(
    config: Path, view: FakeView, capsys: pytest.CaptureFixture[str]
) -> None:
    view.healthy = (False, "schedule-poller has not ticked for 31s")
    assert main(["--config", str(config), "status"]) == 3
    assert "UNHEALTHY (schedule-poller has not ticked for 31s)" in capsys.readouterr().out


def test_status_with_nothing_listening_is_one_line_naming_host_port(
    tmp_path: Path, refused_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, refused_port)
    assert main(["--config", str(config), "status"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        f"status: no supervisor answering at 127.0.0.1:{refused_port} (Connection refused)\n"
    )


def test_status_with_the_api_off_or_on_port_0_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(write_config(tmp_path, 8765, enabled=False)), "status"]) == 1
    assert "the ops API is off" in capsys.readouterr().err
    assert main(["--config", str(write_config(tmp_path, 0)), "status"]) == 1
    assert "[ops] port is 0" in capsys.readouterr().err


def test_status_rejects_a_bad_timeout(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--config", str(config), "status", "--timeout", "0"]) == 2
    assert "--timeout must be a positive" in capsys.readouterr().err


def test_status_as_a_subprocess(config: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "supervisor", "--config", str(config), "status"],
        capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "300"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert f"● {RUN_ID}  nightly  Running" in result.stdout
