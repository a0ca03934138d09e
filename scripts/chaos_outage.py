"""A database outage mid-load under a real `python -m supervisor start`: no report may be lost,
and /health must say so steadily.

The outage is another connection holding `BEGIN EXCLUSIVE` on the supervisor's SQLite file for
`seconds`: in WAL mode that blocks every write (claims, state reports, schedule slots) while
reads still succeed. Load: short runs due every 0.25 s from before the outage to after it, and
a few 3 s runs started just before it (their end falls inside). Each run appends its id to a
ledger when it executes. /health is sampled every 0.5 s from before the outage to after the
last run ended.

- reports lost: runs that executed (in the ledger) whose RUNNING or terminal state is missing
  from the database once the queue drained;
- health flaps: changes of /health's status (200 / not 200) beyond the expected two (down once
  when the outage is noticed, up once when reports land), from the outage's start to the end.
"""

from __future__ import annotations

import itertools
import sqlite3
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from chaos_common import (
    Daemon,
    adversary,
    free_port,
    keep_log,
    kill_marked,
    read_runs_raw,
    scene,
    tracebacks,
    wait_for,
)

from supervisor.models import StateType

TERMINAL = {t.value for t in StateType if t.is_terminal}


class HealthSampler(threading.Thread):
    """GET /health every `every` s: (monotonic time, status or 0 for no answer, reason)."""

    def __init__(self, port: int, every: float = 0.5) -> None:
        super().__init__(name="chaos-health", daemon=True)
        self.port, self.every = port, every
        self.samples: list[tuple[float, int, str]] = []
        self._done = threading.Event()

    def run(self) -> None:
        import http.client
        import json

        while not self._done.is_set():
            t = time.monotonic()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                response = conn.getresponse()
                body = json.loads(response.read() or b"{}")
                self.samples.append((t, response.status, str(body.get("reason", ""))))
                conn.close()
            except (OSError, ValueError) as exc:
                self.samples.append((t, 0, f"no answer: {exc}"))
            self._done.wait(max(0.0, t + self.every - time.monotonic()))

    def close(self) -> None:
        self._done.set()
        self.join(5)


def flaps(samples: list[tuple[float, int, str]]) -> int:
    """Status changes (healthy or not) beyond one down and one up."""
    states = [status == 200 for _, status, _ in samples]
    changes = sum(1 for a, b in itertools.pairwise(states) if a != b)
    return max(0, changes - 2)


def run(seconds: float, *, seed: int = 0) -> dict[str, Any]:
    out: dict[str, Any] = {"outage_s": seconds, "runs": 0, "tracebacks": 0,
                           "lock": "BEGIN EXCLUSIVE from another connection (WAL: writes "
                           "blocked, reads not)"}
    with scene("outage") as sc:
        ledger = sc.folder / "ledger"
        port = free_port()
        sc.write([
            {"name": "short", "command": adversary("work", str(ledger), "0.1", token=sc.token)},
            {"name": "long", "command": adversary("work", str(ledger), "3", token=sc.token)},
        ], ops_port=port, limit=4, poll_interval=0.5, cancel_poll_interval=0.5, kill_grace=1.0)
        client = sc.client()
        lead = 3.0
        now = datetime.now(UTC)
        span = lead + seconds + 5.0
        ids = [client.create_run("short", {}, now + timedelta(seconds=lead / 2 + i * 0.25)).id
               for i in range(int(span / 0.25))]
        ids += [client.create_run("long", {}, now + timedelta(seconds=lead - 1.0)).id
                for _ in range(2)]
        out["runs"] = len(ids)
        daemon = Daemon(sc)
        sampler = HealthSampler(port)
        lock: sqlite3.Connection | None = None
        try:
            if not daemon.wait_started():
                raise RuntimeError(f"the supervisor did not start: {daemon.stderr()[-500:]}")
            sampler.start()
            time.sleep(max(0.0, lead - (datetime.now(UTC) - now).total_seconds()))
            lock = sqlite3.connect(sc.database, isolation_level=None, timeout=30)
            lock.execute("BEGIN EXCLUSIVE")
            began = time.monotonic()
            out["supervisor_alive_in_outage"] = True
            while time.monotonic() - began < seconds:
                out["supervisor_alive_in_outage"] &= daemon.alive()
                time.sleep(0.2)
            lock.execute("ROLLBACK")
            lock.close()
            lock = None
            ended = time.monotonic()
            drained = wait_for(lambda: all(read_runs_raw(sc.database).get(str(r)) in TERMINAL
                                           for r in ids), 60 + len(ids) * 0.2, every=0.25)
            wait_for(lambda: _healthy_for(sampler, 2.0), 20, every=0.25)
            sampler.close()
            out["drained"] = drained
            window = [s for s in sampler.samples if s[0] >= began]
            out["health_samples"] = len(window)
            out["health_flaps"] = flaps(window)
            in_outage = [s for s in window if s[0] < ended]
            out["health_unhealthy_in_outage"] = sum(s[1] != 200 for s in in_outage)
            out["health_samples_in_outage"] = len(in_outage)
            out["health_reasons"] = _reasons(window)
            out["health_recovered_s"] = _recovered(window, ended)
            out.update(_reports(client, ledger, ids))
            daemon.finish(out)
        finally:
            if lock is not None:
                lock.close()
            sampler.close()
            if daemon.alive():
                daemon.kill9()
            client.close()
            out["left_after_stop"] = kill_marked(sc.token)
            out["tracebacks"] = tracebacks(daemon.stderr())
            out["undelivered_at_shutdown"] = daemon.stderr().count("could not be delivered")
            keep_log(daemon, "outage", out)
    return out


def _healthy_for(sampler: HealthSampler, seconds: float) -> bool:
    recent = [s for s in sampler.samples if s[0] >= time.monotonic() - seconds]
    return len(recent) >= 2 and all(s[1] == 200 for s in recent)


def _reasons(window: list[tuple[float, int, str]]) -> dict[str, int]:
    """How often each unhealthy reason was given (numbers and times cut, so kinds add up)."""
    import re

    got: dict[str, int] = {}
    for _, status, reason in window:
        if status != 200:
            key = f"{status} " + re.sub(r"\d[\d:.\-T+Z ]*", "N", reason)[:120]
            got[key] = got.get(key, 0) + 1
    return got


def _recovered(window: list[tuple[float, int, str]], ended: float) -> float | None:
    """s from the outage's end to the first 200 after which /health stayed 200."""
    last_bad = max((s[0] for s in window if s[1] != 200), default=None)
    after = [s[0] for s in window if s[1] == 200 and s[0] >= ended and
             (last_bad is None or s[0] > last_bad)]
    return round(after[0] - ended, 2) if after else None


def _reports(client: Any, ledger: Any, ids: list[uuid.UUID]) -> dict[str, Any]:
    executed = set(ledger.read_text().split()) if ledger.exists() else set()
    lost = 0
    not_completed = 0
    for run_id in ids:
        if str(run_id) not in executed:
            continue
        kinds = [s.type for s in client.read_states(run_id)]
        if StateType.RUNNING not in kinds or not kinds[-1].is_terminal:
            lost += 1
        elif kinds[-1] is not StateType.COMPLETED:
            not_completed += 1
    return {"executed": len(executed), "reports_lost": lost, "not_completed": not_completed}
