"""A fake SystemView for the ops API's unit tests, backed by a real StatusBoard and Metrics."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from actors.board import StatusBoard
from supervisor.errors import DeploymentNotFound, RunNotFound
from supervisor.metrics import Metrics
from supervisor.models import StateType

RUN_ID = uuid.UUID("6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4d5")
STARTED = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)


def process(pid: int, ppid: int, command: str, cpu: float = 0.0, rss: int = 1 << 20) -> dict:
    return {
        "pid": pid,
        "ppid": ppid,
        "command": command,
        "cpu_percent": cpu,
        "rss": rss,
        "create_time": STARTED.timestamp(),
        "status": "sleeping",
    }


def a_run(run_id: uuid.UUID = RUN_ID) -> dict[str, Any]:
    return {
        "id": str(run_id),
        "deployment": "nightly",
        "state": {"type": "RUNNING", "name": "Running", "message": "",
                  "timestamp": STARTED.isoformat()},
        "parameters": {"n": 3},
        "scheduled_time": STARTED.isoformat(),
        "start_time": STARTED.isoformat(),
        "pid": 4100,
        "commit": "0123456789abcdef0123456789abcdef01234567",
        "tree": [
            process(4100, 1, "python -m nightly --n 3", cpu=12.5, rss=48 << 20),
            process(4101, 4100, "sh -c sleep 100"),
            process(4102, 4101, "sleep 100", rss=900 << 10),
            process(4103, 4100, "daemon --forked"),
        ],
    }


class FakeView:
    """What the server sees of a system; tests steer health, stalls and failures."""

    def __init__(self, name: str = "test-sup") -> None:
        self.name = name
        self.metrics = Metrics()
        self.board = StatusBoard()
        self.board.register("supervisor", "root", None)
        self.board.update("supervisor", state="running")
        for poller in ("schedule-poller", "cancel-poller"):
            self.board.register(poller, "poller", "supervisor")
            self.board.update(poller, state="running", last_tick=STARTED)
        self.board.register(f"run-{RUN_ID}", "run", "supervisor")
        self.board.update(f"run-{RUN_ID}", state="running")
        self.board.own(f"run-{RUN_ID}", run_id=str(RUN_ID), tree=lambda: a_run()["tree"])
        self.runs: dict[uuid.UUID, dict[str, Any]] = {RUN_ID: a_run()}
        self.healthy: tuple[bool, str] = (True, "pollers ticked 0.2s ago")
        self.cancelled: list[tuple[uuid.UUID, str]] = []
        self.retried: list[tuple[uuid.UUID, str]] = []
        self.shutdown_asked = threading.Event()
        self.nudged = threading.Event()
        self.stall = threading.Event()
        """While set, every call waits on `release` (a busy actor)."""
        self.release = threading.Event()
        self.fail: Exception | None = None
        self.deployment_list: list[dict[str, Any]] = [
            {"name": "nightly", "schedule": "every 60s", "next_run_time": STARTED.isoformat(),
             "paused": False, "tags": [], "timeout": 600.0},
        ]
        self.history: list[dict[str, Any]] = [a_run()]
        self.created: list[str] = []
        self.log_dir = Path("/nonexistent")
        """Where `run_log` says logs are (a test points it at its tmp_path)."""
        self.ended: set[uuid.UUID] = set()

    def _enter(self) -> None:
        if self.stall.is_set():
            self.release.wait(30)
        if self.fail is not None:
            raise self.fail

    def health(self) -> tuple[bool, str]:
        self._enter()
        return self.healthy

    def actor_states(self) -> list[dict[str, Any]]:
        self._enter()
        return self.board.tree()

    def runs_in_flight(self) -> list[dict[str, Any]]:
        self._enter()
        return list(self.runs.values())

    def run_in_flight(self, run_id: uuid.UUID) -> dict[str, Any] | None:
        self._enter()
        return self.runs.get(run_id)

    def cancel_run(self, run_id: uuid.UUID, by: str) -> dict[str, Any]:
        self._enter()
        if run_id not in self.runs:
            raise RunNotFound(f"no run {run_id} in flight")
        self.cancelled.append((run_id, by))
        run = self.runs[run_id]
        run["state"] = {**run["state"], "type": "CANCELLING", "name": "Cancelling"}
        return run

    def shutdown(self) -> None:
        self._enter()
        self.shutdown_asked.set()

    def nudge(self) -> None:
        self._enter()
        self.nudged.set()

    def deployments(self) -> list[dict[str, Any]]:
        self._enter()
        return self.deployment_list

    def recent_runs(
        self, deployment: str | None, state: StateType | None, limit: int
    ) -> list[dict[str, Any]]:
        self._enter()
        return [
            run for run in self.history
            if deployment in (None, run["deployment"]) and state in (None, run["state"]["type"])
        ][:limit]

    def _deployment(self, name: str) -> dict[str, Any]:
        found = next((d for d in self.deployment_list if d["name"] == name), None)
        if found is None:
            raise DeploymentNotFound(f"no deployment named {name!r}")
        return found

    def run_now(self, deployment: str) -> dict[str, Any]:
        self._enter()
        self._deployment(deployment)
        self.created.append(deployment)
        return {**a_run(uuid.uuid4()), "deployment": deployment}

    def retry_run(self, run_id: uuid.UUID, by: str) -> dict[str, Any]:
        self._enter()
        found = next((r for r in self.history if r["id"] == str(run_id)), None)
        if found is None:
            raise RunNotFound(f"no run {run_id}")
        found["state"] = {**found["state"], "type": "SCHEDULED", "name": "AwaitingRetry"}
        self.retried.append((run_id, by))
        return found

    def set_paused(self, deployment: str, paused: bool) -> dict[str, Any]:
        self._enter()
        found = self._deployment(deployment)
        found["paused"] = paused
        return found

    def run_log(self, run_id: uuid.UUID) -> tuple[Path, bool]:
        self._enter()
        if run_id not in self.runs and all(r["id"] != str(run_id) for r in self.history):
            raise RunNotFound(f"no run with id '{run_id}'")
        return self.log_dir / f"{run_id}.log", run_id in self.ended
