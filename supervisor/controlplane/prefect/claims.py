"""Making a claim exclusive on any Prefect server, SQLite-backed ones included.

Prefect's claim is "propose PENDING; the server ABORTs a second claimer". Measured on 2.19.9
with SQLite under load, that does not hold: two supervisors' PENDING proposals 0.1-0.4 s apart
were both ACCEPTed (the server read the run's state from a stale snapshot), the run executed
twice, and once a loser's stale PENDING even overwrote the run's COMPLETED state. (A
Postgres-backed server locks the run row.) So a claimer first takes a lock, and only the lock's
holder ever proposes PENDING:

- the lock is a Prefect variable named after the run. Variable names are UNIQUE in the
  server's database, so of any number of racing creators exactly one gets 201 and the rest 409
  (measured: 8 concurrent creators x 20 names, one winner each, on 2.19.9 and 3.4.25);
- it outlives its run by KEEP seconds (deleted at a later poll), and on start any a crash left
  older than that is swept. It names its holder: that is how a restarted supervisor tells its
  own runs from a peer's.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any

from supervisor.controlplane.prefect import wire
from supervisor.controlplane.prefect.http import NotFound, PrefectHTTP, Refused
from supervisor.models import State, StateType

TAG = "supervisor-claim"
PREFIX = "supervisor_claim_"
KEEP = 600.0  # s a lock outlives its run

logger = logging.getLogger("supervisor.prefect")


def lock_name(run_id: uuid.UUID) -> str:
    return f"{PREFIX}{run_id.hex}"  # variable names: lowercase letters, digits, _


class ClaimLocks:
    def __init__(self, http: PrefectHTTP) -> None:
        self._http = http
        self._lock = threading.Lock()
        self._due: deque[tuple[float, uuid.UUID]] = deque()

    def acquire(self, run_id: uuid.UUID, supervisor: str) -> str | None:
        """None when the lock is ours (new, or ours already); else who holds it."""
        try:
            self._http.call("POST", "variables/",
                            {"name": lock_name(run_id), "value": supervisor, "tags": [TAG]})
            return None
        except Refused as exc:
            if "409" not in str(exc):
                raise
        holder = self.holder(run_id)
        return None if holder == supervisor else (holder or "another supervisor")

    def holder(self, run_id: uuid.UUID) -> str | None:
        try:
            found = self._http.call("GET", f"variables/name/{lock_name(run_id)}")
        except NotFound:
            return None
        return str(found["value"]) if found else None

    def ended(self, run_id: uuid.UUID) -> None:
        """The run's terminal state landed: its lock goes KEEP seconds from now."""
        with self._lock:
            self._due.append((time.monotonic() + KEEP, run_id))

    def release_due(self) -> None:
        while True:
            with self._lock:
                if not self._due or self._due[0][0] > time.monotonic():
                    return
                _, run_id = self._due.popleft()
            self.release(run_id)

    def release(self, run_id: uuid.UUID) -> None:
        try:
            self._http.call("DELETE", f"variables/name/{lock_name(run_id)}")
        except NotFound:
            pass
        except Exception as exc:  # a lock left behind costs nothing but a stale variable
            logger.debug("could not delete the claim lock of %s: %s", run_id, exc)

    def sweep(self) -> int:
        """Delete locks older than KEEP whose runs have ended, are gone, or are still SCHEDULED
        (the claimer died between its lock and its PENDING): a crash's leftovers."""
        cutoff = datetime.now(UTC) - timedelta(seconds=KEEP)
        found = self._http.call("POST", "variables/filter",
                                {"variables": {"tags": {"all_": [TAG]}}, "limit": 200})
        swept = 0
        for variable in found:
            created = wire.parse_time(variable.get("created"))
            name = str(variable.get("name", ""))
            if not name.startswith(PREFIX) or created is None or created > cutoff:
                continue
            run_id = uuid.UUID(name.removeprefix(PREFIX))
            try:
                state = wire.state_from(self._http.call("GET", f"flow_runs/{run_id}").get("state"))
            except NotFound:
                state = None
            if state is None or state.type.is_terminal or state.type is StateType.SCHEDULED:
                self.release(run_id)
                swept += 1
        return swept


def state_before(history: list[dict[str, Any]], transition: uuid.UUID) -> State | None:
    """The state the proposal with this transition id followed, in the server's order."""
    ordered = sorted(history, key=lambda s: (s["timestamp"], s["id"]))
    for index, state in enumerate(ordered):
        if (state.get("state_details") or {}).get("transition_id") == str(transition):
            return wire.state_from(ordered[index - 1]) if index else None
    return None
