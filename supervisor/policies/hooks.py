"""State-change hooks: `on_completion`, `on_failure` (FAILED or CRASHED), `on_cancellation`.

A hook is an argv run as a supervised process tree of its own through the process layer, after
the run's tree has ended and its final state was reported: it carries the run's cookie (so it
ends with the run's tree rules, and a restart's sweep finds its leftovers), its output goes to
the run's log under a section of its own, and it is ended after `kill_grace` x 10 s (at least
MIN_TIMEOUT). A hook's failure is logged and counted, never changes the run's state.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supervisor.models import Run, State, StateType
from supervisor.process import ExitReason, ExitResult, ProcessSpec
from supervisor.settings import DeploymentSettings

MIN_TIMEOUT = 1.0
TIMEOUT_FACTOR = 10.0

_KEYS = {
    StateType.COMPLETED: "on_completion",
    StateType.FAILED: "on_failure",
    StateType.CRASHED: "on_failure",
    StateType.CANCELLED: "on_cancellation",
}


@dataclass(frozen=True)
class HookExited:
    """A hook's tree was reaped (the process layer's thread tells the run actor)."""

    name: str
    result: ExitResult


@dataclass(frozen=True)
class HookTimedOut:
    name: str


def hook_for(deployment: DeploymentSettings, state: State) -> tuple[str, tuple[str, ...]] | None:
    """(key, argv) of the hook a run ending in `state` runs, or None."""
    key = _KEYS.get(state.type)
    argv = getattr(deployment, key) if key else None
    return (key, argv) if key and argv else None


def timeout(grace: float) -> float:
    return max(grace * TIMEOUT_FACTOR, MIN_TIMEOUT)


def hook_spec(
    key: str,
    argv: tuple[str, ...],
    base_env: Mapping[str, str],
    deployment: DeploymentSettings,
    run: Run,
    state: State,
    exit_code: int | None,
    log_path: Path,
    grace: float,
) -> ProcessSpec:
    env = dict(base_env)
    env.update(deployment.env)
    env.update({
        "SUPERVISOR_HOOK": key,
        "SUPERVISOR_RUN_ID": str(run.id),
        "SUPERVISOR_DEPLOYMENT": deployment.name,
        "SUPERVISOR_PARAMETERS": json.dumps(run.parameters),
        "SUPERVISOR_STATE": state.type.value,
        "SUPERVISOR_STATE_NAME": state.name,
        "SUPERVISOR_STATE_MESSAGE": state.message,
        "SUPERVISOR_EXIT_CODE": "" if exit_code is None else str(exit_code),
        "SUPERVISOR_LOG_PATH": str(log_path),
        "SUPERVISOR_RUN_COUNT": str(run.run_count),
    })
    return ProcessSpec(run_id=str(run.id), argv=argv, cwd=deployment.cwd, env=env,
                       log_path=log_path, kill_grace=grace)


def failure(result: ExitResult) -> str | None:
    """Why the hook failed, or None when it exited 0."""
    if result.reason is ExitReason.EXITED and result.returncode == 0:
        return None
    return result.message or f"exit code {result.returncode}"
