"""What a run's process is given, and how its exit reads as a run state: pure, no actor state.

The run actor owns the sequence (claim, start, report); these are the facts it works from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from supervisor.models import Run, State, StateType
from supervisor.process import ExitReason, ExitResult
from supervisor.process.names import FAILURE_VAR
from supervisor.process.output import last_line
from supervisor.settings import DeploymentSettings


def working_dir(deployment: DeploymentSettings, checkout: Path | None) -> Path | None:
    """A relative `cwd` is taken inside the checkout (settings leave it relative then)."""
    cwd = deployment.cwd
    if checkout is None or cwd is None:
        return checkout or cwd
    return checkout / cwd


def failure_file(log_dir: Path, run: Run) -> Path:
    """Where an entrypoint's child writes what the user's code raised."""
    return log_dir / f"{run.id}.failure"


def environment(
    base: Mapping[str, str], deployment: DeploymentSettings, run: Run, log_dir: Path
) -> dict[str, str]:
    env = dict(base)
    env.update(deployment.env)
    env["SUPERVISOR_RUN_ID"] = str(run.id)
    env["SUPERVISOR_DEPLOYMENT"] = deployment.name
    env["SUPERVISOR_PARAMETERS"] = json.dumps(run.parameters)
    if deployment.entrypoint is not None:
        env[FAILURE_VAR] = str(failure_file(log_dir, run))
    return env


def raised(deployment: DeploymentSettings, run: Run, log_dir: Path) -> str | None:
    """What an entrypoint's user code raised, from the file its child wrote (then removed)."""
    if deployment.entrypoint is None:
        return None
    path = failure_file(log_dir, run)
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read(2000).strip()
        path.unlink()
    except OSError:
        return None
    return text or None


def exit_state(
    result: ExitResult,
    *,
    cancelled_by: str | None,
    raised: str | None,
    engine: bool,
    log_path: Path,
) -> State:
    """The explained state a process exit stands for."""
    message = result.message
    if result.state_type is StateType.CANCELLED and cancelled_by:
        message = f"cancelled by {cancelled_by}: {result.message}"
    state = State.of(result.state_type, message, result.state_name)
    failed = result.reason is ExitReason.EXITED and bool(result.returncode)
    if raised is not None and failed:
        # The user's code raised: FAILED, as Prefect says. A signal or a command's exit
        # code says nothing about the code's own verdict: those stay CRASHED.
        return State.of(StateType.FAILED, f"{raised} ({result.message})", "Failed")
    if engine and failed:
        # Prefect's engine that could not load the flow says why only in its output
        last = last_line(log_path)
        if last:
            return State.of(state.type, f"{message}; its last output: {last}", state.name)
    return state
