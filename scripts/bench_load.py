"""Load figures: many sleeping runs at once (scale), and a burst through a small limit (drain).

Both schedule their runs ahead, due at one instant T, so the normal prefetch poll reads them and
"due" is a known moment; T is converted from CLOCK_REALTIME to this process's CLOCK_MONOTONIC.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import psutil
from bench_baseline import popen_pool_drain, popen_sleepers_apart
from bench_system import cookie_carriers, running_system

from supervisor.models import StateType


def due_at(system: Any, deployment: str, count: int, lead: float) -> tuple[list[Any], float]:
    """Create `count` runs all due `lead` s from now; (runs, T as a monotonic time)."""
    due_real = time.time() + lead
    due_mono = due_real - (time.time() - time.monotonic())
    when = datetime.fromtimestamp(due_real, UTC)
    runs = [system.client.create_run(deployment, {}, when) for _ in range(count)]
    if time.monotonic() > due_mono - 1.2:  # poll_interval 1 s: the poll must have read them
        raise RuntimeError(f"creating {count} runs took too long; raise the lead")
    return runs, due_mono


def _cpu_at(due: float) -> float:
    """This process's CPU seconds at the monotonic time `due` (sleeps until then)."""
    time.sleep(max(0.0, due - time.monotonic()))  # a bench, not a test
    return cpu_seconds()


def scale(stamp: tuple[str, ...], count: int, window: float) -> dict[str, Any]:
    """`count` sleeping runs at once: start all, RSS/threads/CPU of this process, cancel all."""
    out: dict[str, Any] = {"runs": count, "popen_start_all_s": round(
        popen_sleepers_apart(stamp, count), 3)}  # the floor, in a process of its own
    me = psutil.Process()
    rss_before = me.memory_info().rss
    deployment = {"name": "sleeper", "command": [*stamp, "sleep"], "kill_grace": 5.0}
    with running_system([deployment], limit=count) as system:
        runs, due = due_at(system, "sleeper", count, lead=lead_for(count))
        cpu_at_due = _cpu_at(due)
        if not system.recorder.wait("ready", count, timeout=120):
            raise RuntimeError(f"only {system.recorder.ready} of {count} runs started")
        out["start_cpu_s"] = round(cpu_seconds() - cpu_at_due, 3)  # less at the mercy of neighbours
        stamps = [t.stamp[0] for t in system.recorder.traces.values() if t.stamp]
        out["start_all_s"] = round(max(stamps) - due, 3)
        for run in runs:
            system.plane.wait_state(run.id, StateType.RUNNING)
        out["running_reported_s"] = round(time.monotonic() - due, 3)
        time.sleep(0.5)  # a bench, not a test: let the start-up burst settle before sampling
        cpu0, t0 = me.cpu_times(), time.monotonic()
        time.sleep(window)
        cpu1, t1 = me.cpu_times(), time.monotonic()
        busy = (cpu1.user + cpu1.system) - (cpu0.user + cpu0.system)
        out["cpu_percent"] = round(100 * busy / (t1 - t0), 2)
        out["rss_mib"] = round(me.memory_info().rss / 2**20, 1)
        out["rss_delta_mib"] = round((me.memory_info().rss - rss_before) / 2**20, 1)
        out["threads"] = me.num_threads()
        out["threads_idle"] = threading.active_count()  # Python threads, for comparison
        out["pool_threads"] = system.supervisor._ctx.pool.threads  # type: ignore[union-attr]
        c0 = time.monotonic()
        _cancel_all(system.client, [run.id for run in runs])
        out["cancel_requested_s"] = round(time.monotonic() - c0, 3)  # the bench's own write
        system.supervisor.nudge()
        if not system.recorder.wait("ended", count, timeout=120):
            raise RuntimeError(f"only {system.recorder.ended} of {count} runs ended")
        ended = max(t.ended_at for t in system.recorder.traces.values() if t.ended_at)
        out["cancel_all_s"] = round(ended - c0, 3)
        system.plane.wait_terminal(count, 120)
        out["cancel_reported_s"] = round(system.plane.last_terminal() - c0, 3)
        out["left"] = len(cookie_carriers({str(r.id) for r in runs}))
    out["left"] += system.extra["left"]
    return out


def _cancel_all(client: Any, run_ids: list[Any]) -> None:
    """What `request_cancel` writes for each run, all in one transaction (a mass cancel): 5,000
    separate requests from this process cost 3-8 s of the figure's 5 s, most of it GIL and lock
    hand-overs with the supervisor it measures; a CLI would pay them in its own process."""
    from supervisor.controlplane import sqlite_runs

    now = client._now()
    client._txn(lambda c: [sqlite_runs.cancel(c, i, now) for i in run_ids], write=True)


def lead_for(count: int) -> float:
    """s between creating `count` runs (one write each, ~0.3 ms) and their due time."""
    return 4.0 + count / 1000


def cost_per_run(counts: tuple[int, ...], limit: int) -> dict[str, Any]:
    """A burst of each size: ms of wall and of this process's CPU per run, beside the Popen
    pool's wall per run; flat as N grows means no cost grows with the runs held."""
    out: dict[str, Any] = {}
    for count in counts:
        got = burst(count, limit)
        out[str(count)] = {
            "wall_ms": round(1000 * got["drain_s"] / count, 3),
            "cpu_ms": round(1000 * got["cpu_s"] / count, 3),
            "popen_ms": round(1000 * got["baseline_s"] / count, 3),
            "ratio": got["ratio"],
            "left": got["left"],
        }
    return out


def cpu_seconds() -> float:
    """This process's CPU seconds so far (user + system)."""
    usage = psutil.Process().cpu_times()
    return usage.user + usage.system


def burst(count: int, limit: int) -> dict[str, Any]:
    """`count` runs of `true` due at once through `limit` slots, vs a bare Popen pool."""
    baseline, children_cpu = popen_pool_drain(count, limit)
    with running_system([{"name": "true", "command": ["true"]}], limit=limit) as system:
        runs, due = due_at(system, "true", count, lead=lead_for(count))
        cpu_at_due = _cpu_at(due)
        if not system.plane.wait_terminal(count, timeout=300):
            raise RuntimeError(f"only {len(system.plane.ended)} of {count} runs ended")
        drain = system.plane.last_terminal() - due
        cpu = cpu_seconds() - cpu_at_due
        reaped = max(t.ended_at for t in system.recorder.traces.values() if t.ended_at) - due
        completed = sum(
            1 for t in system.recorder.traces.values() if t.result and t.result.returncode == 0
        )
    return {
        "runs": count,
        "limit": limit,
        "drain_s": round(drain, 3),
        "last_reaped_s": round(reaped, 3),
        "baseline_s": round(baseline, 3),
        "baseline_children_cpu_s": round(children_cpu, 3),
        "ratio": round(drain / baseline, 3),
        "cpu_s": round(cpu, 3),
        "completed": completed,
        "runs_created": len(runs),
        "left": system.extra["left"],
    }
