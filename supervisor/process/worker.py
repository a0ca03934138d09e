"""The one thread that runs every end sequence's steps, in batches sharing one /proc cookie scan.

Steps of all runs run here, one at a time, so a run's ending state needs no lock. Each batch gets a
lazy `Snapshot`: the first step that needs the machine-wide cookie scan pays for it and the other
steps of the batch reuse it (500 runs cancelled at once cost a few scans, not 500). A step that
queues a follow-up gets a fresh snapshot in a later batch.
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import Callable, Collection

from supervisor.process import procfs

log = logging.getLogger(__name__)


class Snapshot:
    """Who carries which run's cookie: read on first use, after the batch's steps were queued."""

    def __init__(self) -> None:
        self._children: list[int] | None = None
        self._by_run: dict[str, list[int]] | None = None
        self._blank: dict[int, int] = {}  # pid -> session, for live processes with an empty environ

    def our_children(self) -> list[int]:
        """This process's children (a file per thread: one walk per batch, not per run)."""
        if self._children is None:
            self._children = procfs.children(os.getpid())
        return self._children

    def pids(self, run_id: str, sids: Collection[int] = ()) -> list[int]:
        """Processes with the run's cookie, plus those caught mid-exec in one of its sessions."""
        if self._by_run is None:
            self._by_run, blank = procfs.scan_cookies()
            self._blank = procfs.sessions_of(blank)
        found = self._by_run.get(run_id, [])
        if sids:
            found = found + [pid for pid, sid in self._blank.items() if sid in sids]
        return found


Step = Callable[[Snapshot], None]


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        self._queue: queue.SimpleQueue[Step] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = False

    def submit(self, step: Step) -> None:
        if not self._started:
            with self._lock:
                if not self._started:
                    threading.Thread(target=self._run, name=self.name, daemon=True).start()
                    self._started = True
        self._queue.put(step)

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while True:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            snapshot = Snapshot()
            for step in batch:
                try:
                    step(snapshot)
                except Exception:
                    log.exception("%s: step failed", self.name)
