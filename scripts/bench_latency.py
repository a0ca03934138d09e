"""Latency figures of the live system: each runs a fresh embedded supervisor (bench_system).

Every "executing" moment is the child's own stamp (bench_stamp); every "gone" moment is the
process layer reporting the whole tree reaped and verified (the launcher seam); leftovers are
counted by the run's cookie after each run. Poll intervals stay at their defaults (1 s for
schedules, 0.5 s for cancels): none of these figures is about polling.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_system import System, cookie_carriers, running_system

from supervisor.models import StateType

PROGRAMS = Path(__file__).resolve().parents[1] / "tests" / "programs"
PY = sys.executable


def _one_run(system: System, deployment: str) -> Any:
    """Create a run due now through the bench's own connection and nudge (the API path)."""
    run = system.client.create_run(deployment)
    system.supervisor.nudge()
    return run


def _cancel(system: System, run_id: Any) -> float:
    """The CLI's cancel without its HTTP hop: request in the control plane, then nudge."""
    t0 = time.monotonic()
    system.client.request_cancel(run_id)
    system.supervisor.nudge()
    return t0


def scheduled(stamp: tuple[str, ...], n: int, spacing: float = 0.1) -> dict[str, list[float]]:
    """Runs scheduled ahead (read by the normal prefetch poll, started by timers):
    ms late of the child executing (its CLOCK_REALTIME stamp) and of the recorded start time."""
    with running_system([{"name": "stamp", "command": list(stamp)}], limit=4) as system:
        first = time.time() + 2.5
        runs = [
            system.client.create_run(
                "stamp", {}, datetime.fromtimestamp(first + i * spacing, UTC)
            )
            for i in range(n)
        ]
        if not system.plane.wait_terminal(n, timeout=first - time.time() + n * spacing + 60):
            raise RuntimeError("scheduled runs did not all finish")
        late, recorded = [], []
        for run in runs:
            trace = system.recorder.wait_run(run.id, "ended_at")
            assert trace.stamp is not None
            due = run.scheduled_time.timestamp()
            late.append((trace.stamp[1] - due) * 1e3)
            start = system.client.read_run(run.id).start_time
            assert start is not None
            recorded.append((start.timestamp() - due) * 1e3)
    return {"exec_late": late, "recorded_late": recorded}


def pickup_api(stamp: tuple[str, ...], n: int) -> list[float]:
    """ms from create_run + nudge returning (in-process API) to the child executing."""
    samples = []
    with running_system([{"name": "stamp", "command": list(stamp)}], limit=4) as system:
        for i in range(n):
            run = _one_run(system, "stamp")
            t0 = time.monotonic()
            trace = system.recorder.wait_run(run.id, "ready_at")
            assert trace.stamp is not None
            samples.append((trace.stamp[0] - t0) * 1e3)
            system.plane.wait_terminal(i + 1, 30)
    return samples


def pickup_cli(stamp: tuple[str, ...], n: int) -> dict[str, list[float]]:
    """ms from `python -m supervisor run NAME` exiting (it printed the id) to the child
    executing (negative: executing before the CLI returned), and from launching the CLI."""
    after_exit, after_launch = [], []
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISOR_")}
    env.update({k: v for k, v in os.environ.items() if k.startswith("SUPERVISOR_BENCH")})
    with running_system([{"name": "stamp", "command": list(stamp)}], limit=4, ops=True) as system:
        for i in range(n):
            t_launch = time.monotonic()
            done = subprocess.run(
                [PY, "-m", "supervisor", "--config", str(system.config), "run", "stamp"],
                capture_output=True, text=True, env=env, timeout=60,
            )
            t_exit = time.monotonic()
            if done.returncode != 0:
                raise RuntimeError(f"the CLI failed: {done.stderr.strip()}")
            trace = system.recorder.wait_run(uuid.UUID(done.stdout.strip()), "ready_at")
            assert trace.stamp is not None
            after_exit.append((trace.stamp[0] - t_exit) * 1e3)
            after_launch.append((trace.stamp[0] - t_launch) * 1e3)
            system.plane.wait_terminal(i + 1, 30)
    return {"after_exit": after_exit, "after_launch": after_launch}


def _cancelled(
    system: System, deployment: str, grace: float, *, racing: bool = False
) -> tuple[float | None, int]:
    """Start one run, wait until it is ready and RUNNING landed, cancel it: (ms to its tree
    reaped, or None when it was not ended; processes left). `racing`: the launcher seam
    cancels it between claim and start, so nothing is waited for before its end."""
    run = _one_run(system, deployment)
    t0 = time.monotonic()
    if not racing:
        system.recorder.wait_run(run.id, "ready_at")
        system.plane.wait_state(run.id, StateType.RUNNING)
        t0 = _cancel(system, run.id)
    try:
        trace = system.recorder.wait_run(run.id, "ended_at", timeout=grace + 5)
    except TimeoutError:  # never ended: what it runs is left (the stop at the end ends it)
        return None, len(cookie_carriers({str(run.id)}))
    assert trace.ended_at is not None
    left = len(cookie_carriers({str(run.id)}))
    system.plane.wait_end(run.id)
    return (trace.ended_at - t0) * 1e3, left


def cancel_latency(stamp: tuple[str, ...], n: int) -> tuple[list[float], int]:
    """ms from the cancel request to the whole tree (a cooperative parent and child) reaped."""
    deployment = {"name": "coop", "command": [*stamp, "term"], "kill_grace": 5.0}
    samples, left = [], 0
    with running_system([deployment], limit=4) as system:
        for _ in range(n):
            ms, leftovers = _cancelled(system, "coop", 5.0)
            if ms is None:
                raise RuntimeError("a cancelled run was not ended")
            samples.append(ms)
            left += leftovers
    return samples, left


def escalation(n: int, grace: float = 0.2) -> tuple[list[float], int]:
    """ms past the grace from the cancel request to a SIGTERM-ignoring tree (3) gone."""
    command = [PY, str(PROGRAMS / "ignores_term.py"), "2"]
    deployment = {"name": "stubborn", "command": command, "kill_grace": grace}
    samples, left = [], 0
    with running_system([deployment], limit=4) as system:
        for _ in range(n):
            ms, leftovers = _cancelled(system, "stubborn", grace)
            if ms is None:
                raise RuntimeError("a cancelled run was not ended")
            samples.append(ms - grace * 1e3)
            left += leftovers
    return samples, left


ADVERSARIES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    # name: (command, the line that says the whole tree is up)
    "grandchild": ([PY, str(PROGRAMS / "grandchild.py")], ("grandchild ",)),
    "term-ignoring grandchild": (
        ["sh", "-c", f"'{PY}' '{PROGRAMS / 'ignores_term.py'}' 1 & wait"], ("ready",)
    ),
    "setsid daemon holding stdout": ([PY, str(PROGRAMS / "daemon.py")], ("ready",)),
    "term-ignoring tree": ([PY, str(PROGRAMS / "ignores_term.py"), "2"], ("ready",)),
}


def escaped(stamp: tuple[str, ...], rounds: int, grace: float = 0.3) -> dict[str, int]:
    """Processes left by cookie after cancelling each adversarial tree `rounds` times, and
    after a cancel that lands between the claim and the start (the run still PENDING)."""
    names = {name: f"adv{i}" for i, name in enumerate(ADVERSARIES)}
    deployments = [
        {"name": names[name], "command": command, "kill_grace": grace}
        for name, (command, _) in ADVERSARIES.items()
    ]
    deployments.append({"name": "racing", "command": [*stamp, "sleep"], "kill_grace": grace})
    ready = {names[name]: prefix for name, (_, prefix) in ADVERSARIES.items()}
    left = dict.fromkeys([*ADVERSARIES, RACING], 0)
    # A run that is never ended keeps its slot: room for every round's racing run.
    with running_system(deployments, limit=4 + rounds, ready=ready) as system:
        client = system.client

        def cancel_first(spec: Any) -> None:
            if (spec.env or {}).get("SUPERVISOR_DEPLOYMENT") == "racing":
                client.request_cancel(uuid.UUID(spec.run_id))

        system.recorder.before_launch = cancel_first
        for _ in range(rounds):
            for name in ADVERSARIES:
                left[name] += _cancelled(system, names[name], grace)[1]
            left[RACING] += _cancelled(system, "racing", grace, racing=True)[1]
    left["after stop"] = system.extra["left"]
    return left


RACING = "cancel racing the start"
