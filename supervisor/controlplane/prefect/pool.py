"""Worker mode: the flow runs of one work pool (some or all of its queues), as Prefect's agent
and process worker take them.

- The pool is created as type "process" if missing; a pool of another type is refused by name
  (its runs expect other infrastructure: a container, a Kubernetes job).
- Queues: `work_queues` by name (created if missing) plus those starting with a
  `work_queue_prefix`, re-matched every `queue_rematch_interval` s as the agent does; neither
  given means every queue of the pool. A paused queue or pool is skipped with one log line when
  that changes (the server also returns nothing for a paused queue).
- Heartbeats ride on the polls: the supervisor shows as an online worker only while it polls.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from supervisor.controlplane.prefect import wire
from supervisor.controlplane.prefect.http import NotFound, PrefectHTTP, Refused
from supervisor.errors import ControlPlaneError
from supervisor.settings import ControlPlaneSection

logger = logging.getLogger("supervisor.prefect")

PROCESS = "process"


class WorkPool:
    def __init__(self, http: PrefectHTTP, section: ControlPlaneSection, worker: str,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        assert section.work_pool is not None
        self.name = section.work_pool
        self._http = http
        self._section = section
        self.worker = worker
        self._monotonic = monotonic
        self._queues: list[str] = []
        self._paused: set[str] = set()  # queue names, and "" for the pool itself
        self._matched_at = float("-inf")
        self._beat_at = float("-inf")

    @property
    def _selective(self) -> bool:
        return bool(self._section.work_queues or self._section.work_queue_prefix)

    def ensure(self) -> None:
        """The pool exists and is a process pool (created so if missing)."""
        try:
            pool = self._http.call("GET", f"work_pools/{self.name}")
        except NotFound:
            try:
                pool = self._http.call("POST", "work_pools/", {"name": self.name, "type": PROCESS})
                logger.info("created work pool %r (type %s)", self.name, PROCESS)
            except Refused:  # 409: a peer created it a moment ago
                pool = self._http.call("GET", f"work_pools/{self.name}")
        kind = pool.get("type")
        if kind != PROCESS:
            raise ControlPlaneError(
                f"work pool {self.name!r} is of type {kind!r}; the supervisor runs only "
                f'"{PROCESS}" pools (use another work_pool, or Prefect\'s own worker for it)')
        for queue in self._section.work_queues:
            with contextlib.suppress(Refused):  # 409: it exists
                self._http.call("POST", f"work_pools/{self.name}/queues", {"name": queue})

    def read(self, before: datetime, limit: int) -> list[dict[str, Any]]:
        """The pool's SCHEDULED flow runs due by `before` (Prefect's FlowRun JSON)."""
        now = self._monotonic()
        if now - self._beat_at >= self._section.heartbeat_interval:
            self._heartbeat()
            self._beat_at = now
        if now - self._matched_at >= self._section.queue_rematch_interval:
            self._rematch()
            self._matched_at = now
        if "" in self._paused or (self._selective and not self._queues):
            return []
        body: dict[str, Any] = {"scheduled_before": wire.iso(before), "limit": limit}
        if self._selective:
            body["work_queue_names"] = self._queues
        try:
            found = self._http.call("POST", f"work_pools/{self.name}/get_scheduled_flow_runs", body)
        except NotFound:  # a queue was deleted since the last match
            self._matched_at = float("-inf")
            return []
        return [item["flow_run"] for item in found]

    def _heartbeat(self) -> None:
        self._http.call("POST", f"work_pools/{self.name}/workers/heartbeat", {
            "name": self.worker,
            "heartbeat_interval_seconds": round(self._section.heartbeat_interval)})

    def _rematch(self) -> None:
        pool = self._http.call("GET", f"work_pools/{self.name}")
        queues = self._http.call("POST", f"work_pools/{self.name}/queues/filter", {})
        wanted = set(self._section.work_queues)
        prefixes = tuple(self._section.work_queue_prefix)
        paused = {""} if pool.get("is_paused") else set()
        matched = []
        for queue in sorted(queues, key=lambda q: (q.get("priority") or 0, q["name"])):
            name = queue["name"]
            if self._selective and name not in wanted and not name.startswith(prefixes or ("\0",)):
                continue
            if queue.get("is_paused"):
                paused.add(name)
            else:
                matched.append(name)
        for name in sorted(paused - self._paused):
            what = f"work pool {self.name!r}" if not name else f"queue {name!r} of {self.name!r}"
            logger.info("%s is paused: its runs are not taken", what)
        for name in sorted(self._paused - paused):
            what = f"work pool {self.name!r}" if not name else f"queue {name!r} of {self.name!r}"
            logger.info("%s is no longer paused", what)
        if matched != self._queues and self._selective:
            logger.info("work pool %r: taking runs of queues %s", self.name, matched or "(none)")
        self._paused, self._queues = paused, matched
