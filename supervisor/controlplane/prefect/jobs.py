"""What Prefect's engine needs to run one flow run, read from the server as a process worker
reads it: the deployment (it must still exist and have an entrypoint), and the job variables
`env`, `working_dir` and `command` (the pool's base job template defaults, then the
deployment's `job_variables` (3.x) or `infra_overrides` (2.x), then the flow run's own (3.x)).
Pull steps are left to the engine."""

from __future__ import annotations

import shlex
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from supervisor.controlplane.prefect.http import NotFound, PrefectHTTP
from supervisor.errors import ControlPlaneError


class CannotRun(ControlPlaneError):
    """The flow run cannot be started: its deployment is gone or its flow cannot be loaded."""


@dataclass(frozen=True)
class EngineJob:
    """`command` None means `<flow_python> -m prefect.engine`."""

    env: Mapping[str, str] = field(default_factory=dict)
    working_dir: Path | None = None
    command: tuple[str, ...] | None = None


def read_job(http: PrefectHTTP, run_id: uuid.UUID, api_env: Mapping[str, str]) -> EngineJob:
    try:
        run = http.call("GET", f"flow_runs/{run_id}")
    except NotFound:
        raise CannotRun(f"flow run {run_id} no longer exists") from None
    deployment_id = run.get("deployment_id")
    if not deployment_id:
        raise CannotRun("the flow run has no deployment: nothing says what flow to run")
    try:
        deployment = http.call("GET", f"deployments/{deployment_id}")
    except NotFound:
        raise CannotRun(f"its deployment {deployment_id} no longer exists") from None
    name = deployment.get("name") or deployment_id
    entrypoint = deployment.get("entrypoint")
    if not entrypoint:
        raise CannotRun(f"deployment {name!r} has no entrypoint: the engine cannot load its flow")
    variables = _defaults(http, deployment.get("work_pool_name"))
    variables.update(deployment.get("job_variables") or deployment.get("infra_overrides") or {})
    variables.update(run.get("job_variables") or {})
    working_dir = _directory(variables.get("working_dir")) or _directory(deployment.get("path"))
    command = variables.get("command")
    if not deployment.get("pull_steps") and not command:  # else the file may come later
        _check_entrypoint(entrypoint, working_dir, name)
    env = {str(k): str(v) for k, v in (variables.get("env") or {}).items() if v is not None}
    env.update(api_env)
    env["PREFECT__FLOW_RUN_ID"] = str(run_id)
    return EngineJob(env=env, working_dir=working_dir,
                     command=tuple(shlex.split(command)) if command else None)


def _defaults(http: PrefectHTTP, pool: str | None) -> dict[str, Any]:
    if not pool:
        return {}
    try:
        template = http.call("GET", f"work_pools/{pool}").get("base_job_template") or {}
    except NotFound:
        return {}
    properties = (template.get("variables") or {}).get("properties") or {}
    return {k: v["default"] for k, v in properties.items()
            if isinstance(v, dict) and v.get("default") is not None}


def _directory(value: Any) -> Path | None:
    return Path(value) if isinstance(value, str) and value and Path(value).is_absolute() else None


def _check_entrypoint(entrypoint: str, where: Path | None, name: str) -> None:
    """A missing file is the common load failure: said plainly here, not as a traceback that
    2.x reports FAILED and 3.x leaves PENDING."""
    file = entrypoint.rsplit(":", 1)[0]
    if not file.endswith(".py") or where is None:
        return
    path = where / file
    if not path.is_file():
        raise CannotRun(f"entrypoint {entrypoint!r} of deployment {name!r} cannot be loaded: "
                        f"no file {path}")
