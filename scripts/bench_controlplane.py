#!/usr/bin/env python3
"""Bench the local control plane on a real file: the hot path of a run start (the claim,
SCHEDULED → PENDING, and the RUNNING report), a poll with nothing due, and claims from many
threads at once (one connection behind a lock), alone and while another process writes.

    python scripts/bench_controlplane.py [--runs 500] [--threads 8] [--dir PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import State, StateType
from supervisor.settings import DeploymentSettings

WRITER = """
import sys
from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import State, StateType
plane = LocalControlPlane(sys.argv[1])
print("ready", flush=True)
while True:
    run = plane.create_run("other")
    plane.set_state(run.id, State.of(StateType.PENDING), supervisor="w")
"""


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def report(name: str, samples: list[float]) -> None:
    samples = sorted(samples)
    p99 = samples[min(len(samples) - 1, int(len(samples) * 0.99))]
    print(f"{name:42} n={len(samples):5}  p50 {statistics.median(samples):7.3f} ms"
          f"  p99 {p99:7.3f} ms  max {samples[-1]:7.3f} ms")


def claims(plane: LocalControlPlane, count: int, threads: int,
           own_connection: bool = False) -> list[float]:
    """`threads` threads claim `count` fresh runs, each run proposed by every thread; with
    `own_connection`, each thread has its own plane (the design not taken, for comparison)."""
    runs = [plane.create_run("bench") for _ in range(count)]
    planes = [LocalControlPlane(plane.path) if own_connection else plane for _ in range(threads)]
    samples: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def work(name: str, mine_plane: LocalControlPlane) -> None:
        mine = []
        barrier.wait()
        for run in runs:
            mine.append(timed(lambda r=run: mine_plane.set_state(
                r.id, State.of(StateType.PENDING), supervisor=name)))
        with lock:
            samples.extend(mine)

    pool = [threading.Thread(target=work, args=(f"s{i}", planes[i])) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    if own_connection:
        for each in planes:
            each.close()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--dir", type=Path, default=None, help="where the file goes (a disk)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-cp-", dir=args.dir))
    db = folder / "state.db"
    plane = LocalControlPlane(db)
    plane.register_deployments([
        DeploymentSettings(name="bench", command=("true",)),
        DeploymentSettings(name="other", command=("true",)),
        DeploymentSettings(name="tick", command=("true",), interval=3600),
    ])
    print(f"file: {db}")
    runs = [plane.create_run("bench") for _ in range(args.runs)]
    report("create_run", [timed(lambda: plane.create_run("bench")) for _ in range(args.runs)])
    report("claim (set_state PENDING), one thread", [
        timed(lambda r=r: plane.set_state(r.id, State.of(StateType.PENDING), supervisor="s"))
        for r in runs])
    report("report RUNNING, one thread", [
        timed(lambda r=r: plane.set_state(r.id, State.of(StateType.RUNNING), pid=1))
        for r in runs])
    soon = plane._now() + timedelta(seconds=10)
    report("poll: read_scheduled_runs, nothing due", [
        timed(lambda: plane.read_scheduled_runs(["tick"], soon, 10)) for _ in range(args.runs)])
    report(f"claim, {args.threads} threads racing", claims(plane, args.runs // 5, args.threads))
    report(f"claim, {args.threads} threads, a connection each",
           claims(plane, args.runs // 5, args.threads, own_connection=True))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(db)], stdout=subprocess.PIPE,
                              text=True, cwd=Path(__file__).resolve().parents[1])
    try:
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        report("claim, 1 thread, another process writing", [
            timed(lambda r=r: plane.set_state(r.id, State.of(StateType.PENDING), supervisor="s"))
            for r in [plane.create_run("bench") for _ in range(args.runs)]])
        report(f"claim, {args.threads} threads, another process writing",
               claims(plane, args.runs // 5, args.threads))
    finally:
        writer.kill()
        writer.wait()
    plane.close()


if __name__ == "__main__":
    main()
