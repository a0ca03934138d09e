"""A small CLI-like process for the multi-process tests: `python -m tests.controlplane.worker
ROLE DB [N]`. It prints "ready", waits for a line on stdin (so every process starts its work
at once), does its part through the port, and prints one JSON line with what it saw."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import State, StateType
from supervisor.settings import DeploymentSettings

DEPLOYMENT = DeploymentSettings(name="etl", command=("true",), parameters={"who": "world"})
FAR = timedelta(days=1)


def claim(plane: LocalControlPlane, name: str) -> dict[str, object]:
    """Read every scheduled run, wait for the start line, then claim them all in the same order
    as the rival does (most contention)."""
    runs = plane.read_scheduled_runs(["etl"], plane._now() + FAR, 10_000)
    start()
    won = [str(r.id) for r in runs
           if plane.set_state(r.id, State.of(StateType.PENDING), supervisor=name).accepted]
    return {"seen": len(runs), "won": won}


def materialise(plane: LocalControlPlane) -> dict[str, object]:
    runs = plane.read_scheduled_runs(["ticker"], plane._now() + timedelta(minutes=10), 10_000)
    return {"slots": {r.scheduled_time.isoformat(): str(r.id) for r in runs}}


def write(plane: LocalControlPlane, count: int) -> dict[str, object]:
    plane.register_deployments([DEPLOYMENT])
    made = []
    for index in range(count):
        run = plane.create_run("etl", {"n": index})
        plane.set_state(run.id, State.of(StateType.PENDING), supervisor="writer")
        plane.set_state(run.id, State.of(StateType.RUNNING), pid=index + 1)
        if index % 3 == 0:
            plane.request_cancel(run.id)
            plane.set_state(run.id, State.of(StateType.CANCELLED), exit_code=-15)
        else:
            plane.set_state(run.id, State.of(StateType.COMPLETED), exit_code=0)
        made.append(str(run.id))
    return {"made": made}


def read(plane: LocalControlPlane, total: int) -> dict[str, object]:
    """Read in a loop until the writers' `total` runs are all finished."""
    rounds = 0
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        rounds += 1
        plane.read_deployments()
        plane.read_scheduled_runs(["etl"], plane._now(), 100)
        runs = plane.read_runs(limit=total + 10)
        for run in runs[:5]:
            plane.read_states(run.id)
        done = [r for r in runs if r.state.type.is_terminal]
        if len(done) >= total:
            return {"rounds": rounds, "done": len(done)}
    raise SystemExit(f"reader: only {len(done)} of {total} runs finished within 30 s")


def start() -> None:
    """Say ready, then wait for the line that starts every worker at once."""
    print("ready", flush=True)
    sys.stdin.readline()


def main() -> None:
    role, db = sys.argv[1], Path(sys.argv[2])
    number = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    if role != "claim":
        start()
    plane = LocalControlPlane(db)
    try:
        if role == "claim":
            out = claim(plane, f"claimer-{number}")
        elif role == "materialise":
            out = materialise(plane)
        elif role == "write":
            out = write(plane, number)
        elif role == "read":
            out = read(plane, number)
        else:
            raise SystemExit(f"unknown role {role!r}")
    finally:
        plane.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
