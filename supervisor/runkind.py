"""The two kinds of run, told apart here and nowhere else.

- A **command** (or entrypoint) run: the supervisor reports every state (PENDING, RUNNING with
  its pid, the explained end).
- A **Prefect flow** run, started as Prefect's workers start it: `<flow_python> -m prefect.engine`
  with PREFECT__FLOW_RUN_ID and the API URL (and key). The engine proposes RUNNING and
  COMPLETED/FAILED itself, so the supervisor claims it (PENDING), records only its pid, and after
  the exit reports only what the engine could not: nothing if the run ended; CANCELLED if it is
  CANCELLING; else CRASHED with the exit explained (measured: a SIGTERMed 3.4 engine leaves its
  run RUNNING, a 3.4 load failure leaves it PENDING, and 2.19 exits 0 on FAILED, so the exit code
  alone says nothing). Flow runs come from a `flow = "file.py:fn"` deployment or a work pool.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from supervisor.controlplane.port import ControlPlane
from supervisor.errors import ControlPlaneError
from supervisor.models import OrchestrationResult, OrchestrationStatus, State, StateType
from supervisor.process import entrypoint_argv
from supervisor.settings import DeploymentSettings, Settings

FROM_THE_SERVER = "(the deployment's entrypoint, loaded by Prefect's engine)"


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    cwd: Path | None
    env: Mapping[str, str]
    engine: bool = False
    """Prefect's engine reports this run's RUNNING and end itself."""


class _Job(Protocol):
    env: Mapping[str, str]
    working_dir: Path | None
    command: tuple[str, ...] | None


@runtime_checkable
class EngineHost(Protocol):
    """A control plane the engine can talk to (the `prefect` adapter)."""

    def engine_job(self, run_id: uuid.UUID) -> _Job: ...

    def record_pid(self, run_id: uuid.UUID, pid: int) -> None: ...


def pool_deployment(name: str) -> DeploymentSettings:
    """A work pool's flow run: not in the settings; everything comes from the server."""
    return DeploymentSettings.model_construct(name=name or "(no deployment)", flow=FROM_THE_SERVER)


def deployment_of(settings: Settings, name: str) -> DeploymentSettings | None:
    """A run's deployment if the run is ours: by the settings, or in worker mode any run of the
    pool (then everything comes from the server)."""
    found = settings.deployment(name)
    if found is None and settings.control_plane.work_pool is not None:
        return pool_deployment(name)
    return found


def launch_for(deployment: DeploymentSettings, run_id: uuid.UUID, *, env: Mapping[str, str],
               cwd: Path | None, control_plane: ControlPlane, flow_python: str) -> Launch:
    """argv, directory and environment of a run; ControlPlaneError when a flow run cannot start
    (its deployment vanished, its entrypoint cannot be loaded)."""
    if deployment.flow is None:
        if deployment.command is not None:
            return Launch(deployment.command, cwd, env)
        return Launch(entrypoint_argv(deployment.entrypoint or ""), cwd, env)
    if not isinstance(control_plane, EngineHost):
        raise ControlPlaneError("a Prefect flow needs a Prefect control plane")
    job = control_plane.engine_job(run_id)
    argv = job.command or (flow_python, "-u", "-m", "prefect.engine")
    return Launch(argv, job.working_dir or cwd, {**env, **job.env}, engine=True)


def settle(current: State, ended: State) -> State | None:
    """After the engine's exit: the state the supervisor reports, given the run's state now."""
    if current.type.is_terminal:
        return None
    if current.type is StateType.CANCELLING:
        cancelled = ended.type is StateType.CANCELLED
        return State.of(StateType.CANCELLED, ended.message if cancelled else
                        f"cancelled; {ended.message}")
    if ended.type in (StateType.CANCELLED, StateType.CRASHED):
        return ended
    return State.of(StateType.CRASHED, f"Prefect's engine ended ({ended.message}) without "
                    f"reporting a final state; the run was left {current.type.value}")


def report_engine_run(control_plane: ControlPlane, run_id: uuid.UUID, state: State, key: str,
                      **fields: Any) -> OrchestrationResult:
    """The state reporter's call for an engine run: its pid, or its settled end."""
    if not isinstance(control_plane, EngineHost):
        raise ControlPlaneError("a Prefect flow needs a Prefect control plane")
    if not state.type.is_terminal:
        if fields.get("pid") is not None:
            control_plane.record_pid(run_id, fields["pid"])
        return OrchestrationResult(status=OrchestrationStatus.ACCEPT, state=state)
    current = control_plane.read_run(run_id).state
    final = settle(current, state)
    if final is None:
        return OrchestrationResult(status=OrchestrationStatus.ABORT, state=current,
                                   reason=f"the engine ended the run {current.type.value}")
    return control_plane.set_state(run_id, final, idempotency_key=key,
                                   exit_code=fields.get("exit_code"), commit=fields.get("commit"))
