#!/usr/bin/env python3
"""Figures of the run policies on the live system (a benchmark, not a test):

    scripts/bench_policies.py [--runs N]

- concurrency gap: a `concurrency = 1` deployment with N runs due at once (`limit = 4`): time
  from one run's recorded end to the next one's recorded start (p50/max), and the most runs of
  it ever PENDING or RUNNING at once in the database (must be 1);
- retry lateness: N runs of a command failing once, with `retry_delay = 0.2` (`limit = N`, so
  no retry waits for a slot): the next attempt's RUNNING minus (its AwaitingRetry timestamp +
  the delay) (p50/max).

Real SQLite, real processes (`python -c pass`), default poll intervals.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from supervisor.settings import Settings, parse_settings
from supervisor.system import Supervisor

PY = sys.executable


def _settings(tmp: Path, deployments: list[dict[str, object]], limit: int = 4) -> Settings:
    return parse_settings({"supervisor": {"name": "bench", "limit": limit},
                           "ops": {"enabled": False}, "deployments": deployments},
                          tmp / "supervisor.toml", env={})


def _wait(predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        time.sleep(0.01)


def concurrency_gap(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        settings = _settings(Path(tmp), [{"name": "one", "command": [PY, "-c", "pass"],
                                          "concurrency": 1}])
        plane = LocalControlPlane(settings.supervisor.database)
        plane.register_deployments(settings.deployments)
        made = [plane.create_run("one") for _ in range(runs)]
        most, stop = 0, threading.Event()

        def watch() -> None:
            nonlocal most
            while not stop.is_set():
                found = plane.read_runs(states=[StateType.PENDING, StateType.RUNNING])
                most = max(most, len(found))

        watcher = threading.Thread(target=watch)
        watcher.start()
        sup = Supervisor(settings)
        sup.start()
        try:
            _wait(lambda: all(plane.read_run(r.id).state.type.is_terminal for r in made), 120)
        finally:
            stop.set()
            watcher.join()
            sup.stop()
        done = sorted((plane.read_run(r.id) for r in made), key=lambda r: r.start_time)
        gaps = [(b.start_time - a.end_time).total_seconds() * 1000
                for a, b in itertools.pairwise(done)]
        plane.close()
        return {"gap_p50_ms": statistics.median(gaps), "gap_max_ms": max(gaps),
                "most_in_flight": float(most)}


def retry_lateness(runs: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        delay = 0.2
        settings = _settings(Path(tmp), [{"name": "bad", "command": [PY, "-c", "exit(1)"],
                                          "retries": 1, "retry_delay": delay}], limit=runs)
        plane = LocalControlPlane(settings.supervisor.database)
        plane.register_deployments(settings.deployments)
        made = [plane.create_run("bad") for _ in range(runs)]
        sup = Supervisor(settings)
        sup.start()
        try:
            _wait(lambda: all(plane.read_run(r.id).state.type.is_terminal for r in made), 120)
        finally:
            sup.stop()
        late = []
        for run in made:
            states = plane.read_states(run.id)
            waited = next(s for s in states if s.name == "AwaitingRetry")
            second = [s for s in states if s.type is StateType.RUNNING][1]
            late.append(((second.timestamp - waited.timestamp).total_seconds() - delay) * 1000)
        plane.close()
        return {"retry_late_p50_ms": statistics.median(late), "retry_late_max_ms": max(late)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    for name, figures in (("concurrency = 1", concurrency_gap(args.runs)),
                          ("retries", retry_lateness(args.runs))):
        print(name + ": " + ", ".join(f"{k} {v:.1f}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
