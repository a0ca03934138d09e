"""The harness itself, on both server versions: the right server answers, its scheduler works
with the pinned sqlalchemy, a restart keeps the database, and a stop leaves nothing running."""

from __future__ import annotations

import os
import uuid

import httpx
import pytest

from tests.prefect.api import interval_schedule
from tests.waiting import wait_until

pytestmark = pytest.mark.prefect


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_server_is_the_version_asked_for(prefect_server, prefect_api):
    assert prefect_api.version() == prefect_server.version
    assert prefect_server.api_url.startswith("http://127.0.0.1:")
    assert prefect_server.api_url.endswith("/api")


def test_the_scheduler_creates_runs_of_an_interval_deployment(prefect_api):
    # Given a deployment with an active 60 s interval schedule (anchored now)
    deployment = prefect_api.create_deployment(
        unique("every-minute"), schedules=[interval_schedule(60)]
    )
    # When the server's own scheduler loop comes round (every 5 s; with SQLAlchemy 2.1 it never
    # creates a run on either version)
    runs = wait_until(
        lambda: prefect_api.read_flow_runs(deployment["id"], ["SCHEDULED"]),
        timeout=60,
        interval=0.5,
        message="auto-scheduled runs",
    )
    # Then they are the scheduler's runs, not ours
    assert all(run["auto_scheduled"] for run in runs)
    assert {run["deployment_id"] for run in runs} == {deployment["id"]}


def test_a_restart_keeps_the_database_and_a_stop_leaves_no_process(prefect_server, prefect_api):
    # Given a deployment and a flow run on the running server
    deployment = prefect_api.create_deployment(unique("survivor"), parameters={"x": 1})
    run = prefect_api.create_flow_run(deployment["id"], parameters={"y": 2})
    pids = [pid for pid, _ in prefect_server.processes()]
    assert pids, "the server's processes are found by its cookie"

    # When it is stopped, every process it started is gone and the port is closed
    prefect_server.stop()
    assert prefect_server.processes() == []
    assert not [pid for pid in pids if alive(pid)]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{prefect_server.api_url}/health", timeout=2)

    # And when started again, on the same URL and database, the data is still there
    prefect_server.start()
    assert prefect_api.read_deployment(deployment["id"])["parameters"] == {"x": 1}
    again = prefect_api.read_flow_run(run["id"])
    assert again["parameters"] == {"x": 1, "y": 2}
    assert again["state_type"] == "SCHEDULED"
