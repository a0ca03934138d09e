"""The ops surface against a real supervisor: `status`, the scripts and the API against
`python -m supervisor start`, and the embedding example as a host program."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from prometheus_client.parser import text_string_to_metric_families

from supervisor.errors import OpsError
from supervisor.ops.client import OpsClient
from tests.waiting import wait_until

pytestmark = pytest.mark.slow

HERE = Path(__file__).resolve().parent
SCRIPTS = HERE.parents[1] / "scripts"
TOKEN = "live-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path, port: int) -> Path:
    path = folder / "supervisor.toml"
    path.write_text(
        '[supervisor]\nname = "live"\npoll_interval = 0.2\ncancel_poll_interval = 0.2\n'
        "kill_grace = 2.0\n\n"
        f'[ops]\nhost = "127.0.0.1"\nport = {port}\ntoken_env = "LIVE_OPS_TOKEN"\n\n'
        '[[deployments]]\nname = "tree"\n'
        'command = ["sh", "-c", "sleep 60 & sleep 61 & wait"]\n'
    )
    return path


def run(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "SUPERVISOR_OPS_URL"}
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, timeout=60, cwd=config.parent,
        env={**env, "SUPERVISOR_CONFIG": str(config), "COLUMNS": "300"},
    )


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], Path, OpsClient]]:
    """`python -m supervisor start` on a free port, with a token; stopped and reaped after."""
    config = write_config(tmp_path, free_port())
    log = (tmp_path / "supervisor.log").open("w")  # a file: a full pipe would stall it
    process = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "--config", str(config), "start"],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "LIVE_OPS_TOKEN": TOKEN},
    )
    client = OpsClient.for_settings(_settings(config), token=TOKEN, timeout=5)
    try:
        wait_until(lambda: _healthy(client, process, Path(log.name)), timeout=30,
                   message="a healthy supervisor")
        yield process, config, client
    finally:
        client.close()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


def _settings(config: Path) -> Any:
    from supervisor.settings import load_settings

    return load_settings(config, env={})


def _healthy(client: OpsClient, process: subprocess.Popen[str], log: Path) -> bool:
    if process.poll() is not None:
        raise AssertionError(f"the supervisor exited ({process.returncode}):\n{log.read_text()}")
    try:
        return client.health().get("status") == "ok"
    except OpsError:
        return False


def test_status_scripts_cancel_and_shutdown_against_a_live_supervisor(
    live: tuple[subprocess.Popen[str], Path, OpsClient],
) -> None:
    process, config, client = live

    # Given a live, idle supervisor: status and the health probe say so.
    status = run("-m", "supervisor", "status", config=config)
    assert status.returncode == 0, status.stderr
    assert "● supervisor 'live' at 127.0.0.1:" in status.stdout
    assert "schedule-poller" in status.stdout
    assert "Runs in flight: 0" in status.stdout
    assert run(str(SCRIPTS / "supervisor-health"), config=config).returncode == 0
    assert run(str(SCRIPTS / "runs-in-flight"), config=config).returncode == 1

    # When a run of a three-process tree starts (the CLI nudges the supervisor).
    created = run("-m", "supervisor", "run", "tree", config=config)
    assert created.returncode == 0, created.stderr
    run_id = created.stdout.strip()
    wait_until(lambda: len(_run(client, run_id).get("tree", [])) == 3, timeout=30,
               message="the run's three processes")

    # Then status draws its process tree and the scripts list it.
    status = run("-m", "supervisor", "status", config=config)
    assert status.returncode == 0, status.stderr
    assert f"● {run_id}  tree" in status.stdout
    assert "sh -c sleep 60 & sleep 61 & wait" in status.stdout
    assert "├─ sleep 60" in status.stdout and "└─ sleep 61" in status.stdout
    as_json = json.loads(run("-m", "supervisor", "status", "--json", config=config).stdout)
    assert [r["id"] for r in as_json["runs"]] == [run_id]
    assert any(a["name"] == f"run-{run_id}" for a in _flat(as_json["actors"]))
    ids = run(str(SCRIPTS / "runs-in-flight"), "--ids", config=config)
    assert (ids.returncode, ids.stdout) == (0, f"{run_id}\n")
    pids = [int(p) for p in run(str(SCRIPTS / "runs-in-flight"), "--pids", config=config)
            .stdout.split()]
    assert len(pids) == 3 and all(psutil.pid_exists(p) for p in pids)

    # When it is cancelled through the API with the token: its whole tree ends.
    assert client.cancel(run_id, by="test")["id"] == run_id
    wait_until(lambda: run(str(SCRIPTS / "runs-in-flight"), config=config).returncode == 1,
               timeout=30, message="no run in flight")
    wait_until(lambda: not any(_alive(p) for p in pids), timeout=10, message="the tree gone")
    metrics = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(client.metrics())
        for s in family.samples
    }
    assert metrics[("supervisor_runs_started_total", ())] == 1
    assert metrics[("supervisor_runs_finished_total", (("state", "CANCELLED"),))] == 1
    assert metrics[("supervisor_runs_in_flight", ())] == 0

    # When shutdown is asked through the API: the supervisor exits cleanly.
    assert client.shutdown()["status"] == "stopping"
    try:
        assert process.wait(30) == 0
    except subprocess.TimeoutExpired:
        log = (config.parent / "supervisor.log").read_text()
        raise AssertionError(f"the supervisor did not stop after POST /shutdown:\n{log}") from None
    gone = run("-m", "supervisor", "status", config=config)
    assert gone.returncode == 1
    assert gone.stderr.startswith("status: no supervisor answering at 127.0.0.1:")


def test_embedding_in_a_host_program(tmp_path: Path) -> None:
    config = write_config(tmp_path, 0)  # any free port: two tests may run at once
    result = run(str(HERE / "host_program.py"), str(config), config=config)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    names = {a["name"] for a in _flat(report["actors"])}
    assert {"supervisor", "schedule-poller", "cancellation-poller"} <= names
    assert _shape(report["served"]) == _shape(report["actors"])  # GET /actors: the same data
    assert report["before"] == report["during"] == report["after"]
    assert report["during"]["subreaper"] is False
    assert "Handlers.SIG_DFL" in report["during"]["handlers"]["SIGTERM"]


def _run(client: OpsClient, run_id: str) -> dict[str, Any]:
    try:
        return client.run(run_id)
    except OpsError:
        return {}


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _flat(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for node in nodes for n in (node, *_flat(node.get("children") or []))]


def _shape(nodes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((n["name"], n["kind"]) for n in _flat(nodes))
