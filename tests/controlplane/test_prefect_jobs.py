"""What Prefect's engine is given for a flow run (`prefect/jobs.py`), against an
httpx.MockTransport playing the server's answers (the real servers are in tests/prefect/)."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from supervisor.controlplane.prefect.http import PrefectHTTP
from supervisor.controlplane.prefect.jobs import CannotRun, read_job

RUN = uuid.UUID("00000000-0000-4000-8000-000000000001")  # fixed: xdist workers must agree
DEPLOYMENT = "00000000-0000-4000-8000-000000000002"
API = {"PREFECT_API_URL": "http://server/api"}


def http_of(objects: dict[str, Any]) -> PrefectHTTP:
    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/")
        if path in objects:
            return httpx.Response(200, json=objects[path])
        return httpx.Response(404, json={"detail": "not found"})

    return PrefectHTTP("http://server/api", timeout=1, transport=httpx.MockTransport(answer))


def test_job_variables_come_from_the_pool_then_the_deployment_then_the_run(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text("")
    template = {"variables": {"properties": {
        "env": {"default": {"A": "pool", "B": "pool"}},
        "command": {"type": "string"},  # no default: the engine's own command
        "working_dir": {"default": "/nowhere"}}}}
    http = http_of({
        f"flow_runs/{RUN}": {"deployment_id": DEPLOYMENT, "job_variables": {"env": {"C": "run"}}},
        f"deployments/{DEPLOYMENT}": {"name": "etl", "entrypoint": "flows.py:etl",
                                       "work_pool_name": "edge", "path": "/elsewhere",
                                       "job_variables": {"env": {"B": "dep", "D": None},
                                                         "working_dir": str(tmp_path)}},
        "work_pools/edge": {"base_job_template": template},
    })
    job = read_job(http, RUN, API)
    assert job.env == {"C": "run", **API, "PREFECT__FLOW_RUN_ID": str(RUN)}  # run's env wins whole
    assert job.working_dir == tmp_path and job.command is None


def test_2x_infra_overrides_and_a_command_are_used(tmp_path: Path) -> None:
    (tmp_path / "flows.py").write_text("")
    http = http_of({
        f"flow_runs/{RUN}": {"deployment_id": DEPLOYMENT},
        f"deployments/{DEPLOYMENT}": {"name": "etl", "entrypoint": "flows.py:etl",
                                       "path": str(tmp_path),
                                       "infra_overrides": {"env": {"B": "dep"},
                                                           "command": "python -m my 'a b'"}},
    })
    job = read_job(http, RUN, API)
    assert job.env["B"] == "dep" and job.working_dir == tmp_path
    assert job.command == ("python", "-m", "my", "a b")


@pytest.mark.parametrize(("objects", "reason"), [
    ({}, f"flow run {RUN} no longer exists"),
    ({f"flow_runs/{RUN}": {"deployment_id": None}}, "the flow run has no deployment"),
    ({f"flow_runs/{RUN}": {"deployment_id": DEPLOYMENT}},
     f"its deployment {DEPLOYMENT} no longer exists"),
    ({f"flow_runs/{RUN}": {"deployment_id": DEPLOYMENT},
      f"deployments/{DEPLOYMENT}": {"name": "etl", "entrypoint": None}},
     "deployment 'etl' has no entrypoint"),
    ({f"flow_runs/{RUN}": {"deployment_id": DEPLOYMENT},
      f"deployments/{DEPLOYMENT}": {"name": "etl", "entrypoint": "gone.py:f", "path": "/tmp"}},
     "entrypoint 'gone.py:f' of deployment 'etl' cannot be loaded: no file /tmp/gone.py"),
])
def test_a_run_that_cannot_start_says_why(objects: dict[str, Any], reason: str) -> None:
    with pytest.raises(CannotRun, match="^" + re.escape(reason)):
        read_job(http_of(objects), RUN, API)


def test_pull_steps_are_left_to_the_engine() -> None:
    http = http_of({
        f"flow_runs/{RUN}": {"deployment_id": DEPLOYMENT},
        f"deployments/{DEPLOYMENT}": {"name": "etl", "entrypoint": "later.py:f", "path": "/tmp",
                                       "pull_steps": [{"git_clone": {}}]},
    })
    assert read_job(http, RUN, API).working_dir == Path("/tmp")
