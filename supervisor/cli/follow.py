"""`runs --follow`: new states as they land, like `tail -f`: the runs as they are, then one line
per change (a new run, or a run's new state), until Ctrl-C. It polls the control plane (every
FOLLOW_EVERY s), so it works the same on the local database and on a Prefect server."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Collection
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor.controlplane.port import ControlPlane
    from supervisor.models import Run, StateType

FOLLOW_EVERY = 0.5


def _line(run: Run) -> str:
    from supervisor.cli import output

    message = f": {run.state.message}" if run.state.message else ""
    attempt = f" (attempt {run.run_count})" if run.run_count > 1 else ""
    stamp = output.when(run.state.timestamp)
    return f"{stamp}  {run.id}  {run.deployment}  {run.state.name}{attempt}{message}"


def follow(
    plane: ControlPlane,
    *,
    deployment: str | None,
    states: Collection[StateType] | None,
    limit: int,
    as_json: bool,
) -> None:
    """Print changes for ever; Ctrl-C ends it (the CLI exits 130)."""
    seen: dict[object, tuple[object, ...]] = {}
    while True:
        found = plane.read_runs(deployment=deployment, states=states, limit=limit)
        for run in reversed(found):  # oldest first, as a log reads
            key = (run.state.type, run.state.name, run.state.timestamp, run.run_count)
            if seen.get(run.id) == key:
                continue
            seen[run.id] = key
            text = json.dumps(run.to_json()) if as_json else _line(run)
            sys.stdout.write(text + "\n")
        sys.stdout.flush()
        time.sleep(FOLLOW_EVERY)
