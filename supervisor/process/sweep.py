"""After a crash: end what a previous incarnation's runs left behind, found by their cookies.

Blocking (called once at start-up, before runs start): TERM -> grace -> KILL, waiting on pidfds,
rescanning until no process carries one of the cookies; reaps what is ours.
"""

from __future__ import annotations

import os
import select
import signal
import time
from collections.abc import Collection

from supervisor.process import pidfds, procfs
from supervisor.process.pidfds import Proc

KILL_WAIT = 5.0
ROUNDS = 20


class _Sweep:
    def __init__(self, run_ids: Collection[str]) -> None:
        self.counts = dict.fromkeys(run_ids, 0)
        self.held: dict[int, Proc] = {}
        self.sessions: dict[int, str] = {}  # session id -> the run whose processes are in it

    def collect(self) -> list[Proc]:
        """Pin every live process carrying a wanted cookie (or caught mid-exec in one of the
        sessions found so far) that we do not hold yet."""
        by_run, blank = procfs.scan_cookies()
        candidates = [(pid, run_id) for run_id in self.counts for pid in by_run.get(run_id, [])]
        candidates += [
            (pid, self.sessions[sid])
            for pid, sid in procfs.sessions_of(blank).items()
            if sid in self.sessions
        ]
        new = []
        for pid, run_id in candidates:
            known = self.held.get(pid)
            if known is not None and not known.exited:
                continue
            proc = pidfds.open_proc(pid)
            if proc is None:
                continue
            if self.sessions.get(proc.sid) != run_id and procfs.read_cookie(pid) != run_id:
                proc.close()
                continue
            if known is not None:
                known.close()
            self.held[pid] = proc
            if proc.sid != os.getsid(0):
                self.sessions.setdefault(proc.sid, run_id)
            self.counts[run_id] += 1
            new.append(proc)
        return new

    def live(self) -> list[Proc]:
        return [p for p in self.held.values() if not p.exited]

    def wait(self, procs: list[Proc], deadline: float) -> None:
        """Block until every one of `procs` exited or the deadline passed (no polling loop)."""
        poller = select.poll()
        by_fd = {p.fd: p for p in procs if not p.exited}
        for fd in by_fd:
            poller.register(fd, select.POLLIN)
        while by_fd:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            for fd, _ in poller.poll(remaining * 1000):
                by_fd.pop(fd).exited = True
                poller.unregister(fd)

    def close(self) -> None:
        for proc in self.held.values():
            if proc.exited:
                pidfds.reap(proc)
            proc.close()


def sweep_leftovers(run_ids: Collection[str], grace: float) -> dict[str, int]:
    """End every live process carrying one of `run_ids`' cookies; how many per run id."""
    sweep = _Sweep(run_ids)
    try:
        deadline = time.monotonic() + grace
        new = sweep.collect()
        while new and time.monotonic() < deadline:
            for proc in new:
                pidfds.send(proc, signal.SIGTERM)
            sweep.wait(sweep.live(), deadline)
            new = sweep.collect()
        for _ in range(ROUNDS):
            live = sweep.live()
            if not live:
                break
            for proc in live:
                if not pidfds.has_exited(proc):
                    pidfds.send(proc, signal.SIGKILL)
            sweep.wait(live, time.monotonic() + KILL_WAIT)
            sweep.collect()
    finally:
        sweep.close()
    return sweep.counts
