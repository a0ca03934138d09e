"""Since when the control plane has been unavailable, as the actors find out.

Adapter-agnostic: any ControlPlaneUnavailable an actor meets (a locked SQLite file, a Prefect
server's 5xx or timeout) marks it failing; its next success clears it. The outage began at the
first failure and ends only when no actor is failing and no state report is queued, so health
says one steady thing through it instead of flapping with each retry. A call that has not come
back yet (a SQLite busy timeout, a server that accepts and never answers) is known too: health
names it, rather than the poller that has not ticked because of it.
"""

from __future__ import annotations

import threading
from datetime import datetime


class Outage:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._failing: set[str] = set()
        self._since: datetime | None = None
        self._calls: dict[str, datetime] = {}

    def failed(self, who: str, now: datetime) -> None:
        """`who` (an actor's name) met ControlPlaneUnavailable at `now`."""
        with self._lock:
            self._failing.add(who)
            if self._since is None:
                self._since = now

    def succeeded(self, who: str) -> None:
        with self._lock:
            self._failing.discard(who)

    def calling(self, who: str, now: datetime) -> None:
        """`who` is inside a control-plane call begun at `now`."""
        with self._lock:
            self._calls[who] = now

    def returned(self, who: str) -> None:
        with self._lock:
            self._calls.pop(who, None)

    def waiting_since(self) -> datetime | None:
        """When the oldest control-plane call still waiting for its answer began, or None."""
        with self._lock:
            return min(self._calls.values(), default=None)

    def since(self, queued: int) -> datetime | None:
        """When the ongoing outage began, or None; `queued` state reports keep it ongoing."""
        with self._lock:
            if self._since is not None and not self._failing and queued == 0:
                self._since = None
            return self._since
