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

from supervisor.process import procfs, tree
from supervisor.process.subreaper import is_subreaper

log = logging.getLogger(__name__)


class Snapshot:
    """Who carries which run's cookie: read on first use, after the batch's steps were queued.

    As a child subreaper, every process a run left is under its main (walked by the ender) or
    re-parented to us, so the batch reads only our adopted children's subtrees: the cost grows
    with what was adopted, not with the machine. Without the subreaper (or when the ender gives
    up on a process that survived SIGKILL) it scans every process's cookie, as the restart sweep
    does."""

    def __init__(self, mains: Collection[int] = (), local: bool | None = None) -> None:
        self._mains = mains  # our children that are runs' main processes (not adopted)
        self._local = local
        self._adopted: list[int] | None = None
        self._by_run: dict[str, list[int]] | None = None
        self._blank: dict[int, int] = {}  # pid -> session, for live processes with an empty environ

    def adopted(self) -> list[int]:
        """Our children that are not a run's main process: adopted orphans (the main thread's
        children, see procfs; every thread's while it has exited), other children. Taken once
        per batch (a main reaped later in the batch is no child of ours any more, but still in
        the list read before)."""
        if self._adopted is None:
            me = os.getpid()
            found = procfs.orphans_parent_children(me)
            children = procfs.children(me) if found is None else found
            self._adopted = [pid for pid in children if pid not in self._mains]
        return self._adopted

    @property
    def local(self) -> bool:
        if self._local is None:
            self._local = is_subreaper()
        return self._local

    def pids(
        self, run_id: str, sids: Collection[int] = (), *, everywhere: bool = False
    ) -> list[int]:
        """Processes with the run's cookie, plus those caught mid-exec in one of its sessions:
        among what we adopted (subreaper), or on the whole machine (`everywhere`, or no
        subreaper)."""
        if everywhere and self.local:
            by_run, blank = procfs.scan_cookies()
            return _matching(by_run, procfs.sessions_of(blank), run_id, sids)
        if self._by_run is None:
            if self.local:
                self._by_run, blank = procfs.cookies_of(tree.walk(self.adopted()))
            else:
                self._by_run, blank = procfs.scan_cookies()
            self._blank = procfs.sessions_of(blank)
        return _matching(self._by_run, self._blank, run_id, sids)


def _matching(
    by_run: dict[str, list[int]], blank: dict[int, int], run_id: str, sids: Collection[int]
) -> list[int]:
    found = by_run.get(run_id, [])
    if sids:
        found = found + [pid for pid, sid in blank.items() if sid in sids]
    return found


Step = Callable[[Snapshot], None]


class Worker:
    def __init__(self, name: str, mains: Collection[int] = ()) -> None:
        self.name = name
        self._mains = mains
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
            snapshot = Snapshot(self._mains)
            for step in batch:
                try:
                    step(snapshot)
                except Exception:
                    log.exception("%s: step failed", self.name)
