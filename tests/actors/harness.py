"""A whole actor system on a fake clock, a fake control plane and fake processes."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from supervisor.clock import FakeClock
from supervisor.controlplane.memory import MemoryControlPlane
from supervisor.models import Run, StateType
from supervisor.settings import Settings, parse_settings
from supervisor.system import Supervisor
from supervisor.timers import ManualScheduler
from tests.actors.fakes import FakeLauncher, FakeProcess
from tests.waiting import wait_until


def make_settings(tmp: Path, deployments: list[dict[str, Any]], **supervisor: Any) -> Settings:
    data = {
        "supervisor": {
            "name": "unit",
            "poll_interval": 1.0,
            "cancel_poll_interval": 0.5,
            "prefetch": 10.0,
            "kill_grace": 2.0,
            **supervisor,
        },
        "ops": {"enabled": False},
        "deployments": deployments,
    }
    return parse_settings(data, tmp / "supervisor.toml", env={})


WAIT = 15.0
"""s a harness wait allows: a loaded 2-core host (CI, xdist, a Prefect server beside) has taken
over 5 s to carry a cancel through poller, actor, process and reporter."""


@dataclass
class Harness:
    clock: FakeClock
    scheduler: ManualScheduler
    plane: MemoryControlPlane
    launcher: FakeLauncher
    sup: Supervisor

    def barrier(self) -> None:
        """Wait until the root has handled everything sent to it so far."""
        root = self.sup._root
        if root is not None:
            root.ask(object(), timeout=5)

    def advance(self, seconds: float) -> None:
        self.scheduler.advance(seconds)
        self.barrier()

    def advance_until(self, done: Any, step: float, timeout: float = 10.0) -> Any:
        """Move the clock `step` s at a time until `done()` is true (a real-time deadline): a
        timer an actor arms just after one step fires on the next, on however loaded a host."""

        def stepped() -> Any:
            if result := done():
                return result
            self.advance(step)
            return None

        return wait_until(stepped, timeout, interval=0.01, message=f"{done} while advancing")

    def create_run(self, deployment: str, in_seconds: float = 0.0, **parameters: Any) -> Run:
        when = self.clock.now() + timedelta(seconds=in_seconds)
        return self.plane.create_run(deployment, parameters, when)

    def process(self, run: Run, timeout: float = WAIT) -> FakeProcess:
        return wait_until(
            lambda: self.launcher.processes.get(str(run.id)),
            timeout,
            message=f"process of {run.id}",
        )

    def state(self, run: Run) -> StateType:
        return self.plane.read_run(run.id).state.type

    def wait_state(self, run: Run, *types: StateType) -> Run:
        return wait_until(
            lambda: (r := self.plane.read_run(run.id)).state.type in types and r,
            WAIT,
            message=f"{run.id} in {types}",
        )

    def in_flight(self) -> int:
        entry = self.sup.board.get("supervisor")
        return entry["owns"].get("in_flight", 0) if entry else 0

    def poller_ticked(self, name: str = "schedule-poller") -> bool:
        entry = self.sup.board.get(name)
        return bool(entry and entry["last_tick"])


def start_harness(tmp: Path, deployments: list[dict[str, Any]], **supervisor: Any) -> Harness:
    clock = FakeClock()
    scheduler = ManualScheduler(clock)
    plane = MemoryControlPlane(clock)
    launcher = FakeLauncher()
    settings = make_settings(tmp, deployments, **supervisor)
    sup = Supervisor(
        settings,
        control_plane=plane,
        scheduler=scheduler,
        launcher=launcher,
        environment={"PATH": "/usr/bin:/bin"},
    )
    sup.start()
    harness = Harness(clock, scheduler, plane, launcher, sup)
    wait_until(harness.poller_ticked, 5, message="first poll")
    return harness


def run_id_of(process: FakeProcess) -> uuid.UUID:
    return uuid.UUID(process.run_id)
