"""The burst's budget: the supervisor CPU a run may cost if a burst is to drain within 1.5 x the
bare Popen pool, beside what two parts every run needs cost alone.

On C cores a drain cannot take less than (the children's CPU + the supervisor's CPU) / C, so
within `ratio` x the pool's wall time W (the burst's own baseline, with its children's CPU)
the supervisor may spend at most
(ratio · W · C - children's CPU) / N a run. The two parts are measured without the actors:
the process layer (start, watch, reap and verify a tree, as a subreaper) from `width` threads,
and the three state writes of a run (claim, RUNNING, terminal) in batches of `width`, the best
case of the group commit and the reporter's batches. Beside them, the system without processes
(the actors and the control plane, each run's process a fake that exits at once): what the
actors spend beyond the writes.
"""

from __future__ import annotations

import os
import queue
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from bench_load import cpu_seconds, due_at, lead_for
from bench_system import running_system

from supervisor.controlplane.batch import Proposal
from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import State, StateType
from supervisor.process import ProcessSpec, start_process
from supervisor.process.subreaper import disable_subreaper, enable_subreaper, is_subreaper
from supervisor.settings import DeploymentSettings


def process_layer(count: int, width: int) -> tuple[float, float]:
    """(wall s, this process's CPU s): `count` trees of `true` through the process layer from
    `width` threads, each waiting for its exit result (tree reaped and verified)."""
    was = is_subreaper()
    if not was:
        enable_subreaper()
    logs = tempfile.TemporaryDirectory(prefix="supervisor-bench-budget-")
    folder = Path(logs.name)
    env = dict(os.environ)
    next_run = iter(range(count))
    lock = threading.Lock()

    def worker() -> None:
        done = threading.Event()
        while True:
            with lock:
                i = next(next_run, None)
            if i is None:
                return
            done.clear()
            spec = ProcessSpec(run_id=f"budget-{i}", argv=("true",), env=env,
                               log_path=folder / f"{i}.log", kill_grace=5.0)
            start_process(spec, on_exit=lambda _result: done.set())
            done.wait()

    try:
        cpu0, t0 = cpu_seconds(), time.monotonic()
        threads = [threading.Thread(target=worker) for _ in range(width)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.monotonic() - t0, cpu_seconds() - cpu0
    finally:
        logs.cleanup()
        if not was:
            disable_subreaper()


def state_writes(count: int, batch: int) -> float:
    """This process's CPU s for `count` runs' claim, RUNNING and terminal states, in batches of
    `batch` proposals a transaction, on a fresh SQLite control plane."""
    folder = tempfile.TemporaryDirectory(prefix="supervisor-bench-budget-")
    plane = LocalControlPlane(Path(folder.name) / "state.db")
    try:
        plane.register_deployments([DeploymentSettings(name="true", command=["true"])])
        now = datetime.now(UTC)
        runs = [plane.create_run("true", {}, now).id for _ in range(count)]
        steps = ((StateType.PENDING, {"supervisor": "bench"}), (StateType.RUNNING, {"pid": 1}),
                 (StateType.COMPLETED, {"exit_code": 0}))
        cpu0 = cpu_seconds()
        for kind, fields in steps:
            for at in range(0, count, batch):
                plane.set_states([
                    Proposal(run, State.of(kind, "budget"), f"{kind.value}:{run}", **fields)
                    for run in runs[at:at + batch]
                ])
        return cpu_seconds() - cpu0
    finally:
        plane.close()
        folder.cleanup()


def without_processes(count: int, limit: int) -> float:
    """This process's CPU s for a burst of `count` runs through `limit` slots whose processes
    are fakes (the actors' unit tests' launcher, held to the same contract) ending at once."""
    from tests.actors.fakes import FakeLauncher

    fakes = FakeLauncher()
    ending: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def launch(spec: Any, **callbacks: Any) -> Any:
        process = fakes(spec, **callbacks)
        ending.put(process)  # exits on another thread, as a real one is reaped on the worker's
        return process

    def exits() -> None:
        while (process := ending.get()) is not None:
            process.exit(0)

    exiter = threading.Thread(target=exits, daemon=True)
    exiter.start()
    try:
        with running_system([{"name": "fake", "command": ["true"]}], limit=limit,
                            launcher=launch) as system:
            _, due = due_at(system, "fake", count, lead=lead_for(count))
            time.sleep(max(0.0, due - time.monotonic()))  # a bench, not a test
            cpu0 = cpu_seconds()
            if not system.plane.wait_terminal(count, timeout=300):
                raise RuntimeError(f"only {len(system.plane.ended)} of {count} runs ended")
            return cpu_seconds() - cpu0
    finally:
        ending.put(None)
        exiter.join()


def budget(burst: dict[str, Any], ratio: float = 1.5) -> dict[str, Any]:
    """What `ratio` leaves the supervisor a run of `burst` (bench_load.burst's result: its Popen
    pool and that pool's children's CPU), and what the process layer, the state writes and the
    system without processes cost a run alone (ms of CPU), at the same size and width."""
    count, width = burst["runs"], burst["limit"]
    wall, children = burst["baseline_s"], burst["baseline_children_cpu_s"]
    cores = psutil.cpu_count() or 1
    layer_wall, layer_cpu = process_layer(count, width)
    writes = state_writes(count, width)
    actors = without_processes(count, width)
    return {
        "runs": count,
        "cores": cores,
        "pool_s": round(wall, 3),
        "children_cpu_ms": round(1000 * children / count, 3),
        "allowed_cpu_ms": round(1000 * (ratio * wall * cores - children) / count, 3),
        "process_layer_s": round(layer_wall, 3),
        "process_layer_cpu_ms": round(1000 * layer_cpu / count, 3),
        "state_writes_cpu_ms": round(1000 * writes / count, 3),
        "without_processes_cpu_ms": round(1000 * actors / count, 3),
    }
