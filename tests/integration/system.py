"""Helpers for integration tests: a real supervisor on a real SQLite file running real processes."""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import Run, StateType
from supervisor.settings import Settings, parse_settings
from supervisor.system import Supervisor
from tests.waiting import wait_until

PY = sys.executable


def python(code: str) -> list[str]:
    return [PY, "-c", code]


def settings_for(tmp: Path, deployments: list[dict[str, Any]], **supervisor: Any) -> Settings:
    data = {
        "supervisor": {
            "name": "it",
            "poll_interval": 0.2,
            "cancel_poll_interval": 0.2,
            "prefetch": 5.0,
            "kill_grace": 2.0,
            **supervisor,
        },
        "ops": {"enabled": False},
        "deployments": deployments,
    }
    return parse_settings(data, tmp / "supervisor.toml", env={})


def wait_terminal(plane: LocalControlPlane, run: Run | uuid.UUID, timeout: float = 20) -> Run:
    run_id = run.id if isinstance(run, Run) else run
    return wait_until(
        lambda: (r := plane.read_run(run_id)).state.type.is_terminal and r,
        timeout,
        message=f"run {run_id} terminal",
    )


def started(settings: Settings, **options: Any) -> Supervisor:
    sup = Supervisor(settings, **options)
    sup.start()
    return sup


def states(plane: LocalControlPlane, run: Run) -> list[StateType]:
    return [s.type for s in plane.read_states(run.id)]
