"""kill -9 of a real `python -m supervisor start` under load, then a restart, `kills` times.

Load: runs of three lengths (0.2, 1 and 3 s) through 4 slots, some due now and some due over the
next seconds (so a kill finds runs claimed and waiting for their time, running, and ending).
Each run appends its id to a ledger before it does anything else and keeps a grandchild (a
`sleep`) that outlives it. Each cycle adds a burst of runs, waits until runs are executing, waits
a random 0 to 1.5 s more and SIGKILLs the supervisor; the next one starts at once on the same
database and must close out what the dead one left.

- leftovers: after each restart has started (orphans are resolved before polling starts), live
  processes of runs already terminal in the database (states read first, processes second); and
  whatever is marked once the last supervisor stopped;
- runs stuck non-terminal: runs not terminal once the last supervisor drained the queue;
- runs executed twice: ids found more than once in the ledger.
"""

from __future__ import annotations

import collections
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from chaos_common import (
    Daemon,
    adversary,
    cookie_of,
    keep_log,
    kill_marked,
    marked,
    read_runs_raw,
    scene,
    tracebacks,
    wait_for,
)

from supervisor.models import StateType

TERMINAL = {t.value for t in StateType if t.is_terminal}
LENGTHS = {"short": 0.2, "mid": 1.0, "long": 3.0}


def run(kills: int, *, burst: int = 12, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {"kills": 0, "runs": 0, "leftovers_after_restart": 0,
                           "in_flight_at_kill": [], "restart_resolved_s": [], "tracebacks": 0}
    with scene("crash") as sc:
        ledger = sc.folder / "ledger"
        sc.write([
            {"name": name, "command": adversary("work", str(ledger), str(seconds),
                                                token=sc.token), "kill_grace": 1.0}
            for name, seconds in LENGTHS.items()
        ], limit=4, poll_interval=0.5, prefetch=5.0)
        client = sc.client()
        daemons: list[Daemon] = []
        try:
            daemon = _start(sc, daemons)
            for _ in range(kills):
                before = _size(ledger)
                _burst(client, burst, rng)
                out["runs"] += burst
                wait_for(lambda n=before: _size(ledger) > n, 20)  # runs of this burst execute
                time.sleep(rng.uniform(0.0, 1.5))  # a random moment under load
                daemon.kill9()
                out["kills"] += 1
                raw = read_runs_raw(sc.database)
                in_flight = [r for r, t in raw.items() if t in ("PENDING", "RUNNING",
                                                              "CANCELLING")]
                out["in_flight_at_kill"].append(len(in_flight))
                t0 = time.monotonic()
                daemon = _start(sc, daemons)
                wait_for(lambda ids=in_flight: all(  # type: ignore[misc]
                    read_runs_raw(sc.database).get(r) in TERMINAL for r in ids), 30)
                out["restart_resolved_s"].append(round(time.monotonic() - t0, 2))
                out["leftovers_after_restart"] += _leftovers(sc)
            # the last one drains the queue: every run created is due within 3 s
            wait_for(lambda: set(read_runs_raw(sc.database).values()) <= TERMINAL,
                     out["runs"] * 3.0 / 4 + 30, every=0.2)
            raw = read_runs_raw(sc.database)
            out["runs_stuck_non_terminal"] = sum(t not in TERMINAL for t in raw.values())
            out["final_states"] = dict(collections.Counter(raw.values()))
            daemon.finish(out)
        finally:
            for d in daemons:
                if d.alive():
                    d.kill9()
            client.close()
            out["left_after_stop"] = kill_marked(sc.token)
            out["died"] = max(out.get("died", 0), int(any(  # on its own, before our kill
                "supervisor stopping: " in d.stderr() for d in daemons)))
            for d in daemons:
                out["tracebacks"] += tracebacks(d.stderr())
                keep_log(d, "crash", {"tracebacks": tracebacks(d.stderr())})
        lines = ledger.read_text().split() if ledger.exists() else []
    counts = collections.Counter(lines)
    out["executed"] = len(counts)
    out["executed_twice"] = sum(1 for n in counts.values() if n > 1)
    out["leftovers"] = out["leftovers_after_restart"] + out["left_after_stop"]
    return out


def _size(path: Any) -> int:
    return path.stat().st_size if path.exists() else 0


def _start(sc: Any, daemons: list[Daemon]) -> Daemon:
    daemon = Daemon(sc)
    daemons.append(daemon)
    if not daemon.wait_started():
        raise RuntimeError(f"the supervisor did not start: {daemon.stderr()[-500:]}")
    return daemon


def _burst(client: Any, count: int, rng: random.Random) -> None:
    now = datetime.now(UTC)
    for _ in range(count):
        name = rng.choice(list(LENGTHS))
        client.create_run(name, {}, now + timedelta(seconds=rng.choice((0, 0, 0.5, 1, 2, 3))))


def _leftovers(sc: Any) -> int:
    """Processes of runs the database says are over (states first, then the scan)."""
    raw = read_runs_raw(sc.database)
    over = {r for r, t in raw.items() if t in TERMINAL}
    return sum(1 for pid in marked(sc.token) if cookie_of(pid) in over)
