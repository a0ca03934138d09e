"""A run's tree at one moment, at a cost that grows with the tree.

The walk follows /proc/<pid>/task/*/children from the roots (the main process and the daemons the
supervisor adopted as a subreaper); psutil is asked only about the pids found.
"""

from __future__ import annotations

import collections
import os
import threading
import time
from collections.abc import Iterable

import psutil

from supervisor.process import procfs
from supervisor.process.spec import ProcessInfo


def walk(roots: Iterable[int]) -> list[int]:
    """The roots and all their descendants, each once, parents before children."""
    seen: set[int] = set()
    order: list[int] = []
    queue = collections.deque(roots)
    while queue:
        pid = queue.popleft()
        if pid in seen:
            continue
        seen.add(pid)
        order.append(pid)
        queue.extend(procfs.children(pid))
    return order


class AdoptionIndex:
    """Children of this process that carry a run cookie: daemons re-parented to us as subreaper.

    Shared by every run and refreshed at most every `ttl` seconds, so asking all runs for their
    trees costs one look at our own children (each child's environ is read once per pid).
    Entries are (pid, start time): enough to re-identify the process later, even as a zombie.
    """

    def __init__(self, ttl: float = 0.25) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._at = -1e9
        self._by_run: dict[str, list[tuple[int, int]]] = {}
        self._cookies: dict[tuple[int, int], str | None] = {}

    def of(self, run_id: str) -> list[tuple[int, int]]:
        with self._lock:
            if time.monotonic() - self._at > self._ttl:
                self._refresh()
            return list(self._by_run.get(run_id, ()))

    def _refresh(self) -> None:
        by_run: dict[str, list[tuple[int, int]]] = {}
        cookies: dict[tuple[int, int], str | None] = {}
        for pid in procfs.children(os.getpid()):
            stat = procfs.read_stat(pid)
            if stat is None or stat.state == "Z":
                continue
            key = (pid, stat.starttime)
            cookie = self._cookies[key] if key in self._cookies else procfs.read_cookie(pid)
            cookies[key] = cookie
            if cookie is not None:
                by_run.setdefault(cookie, []).append(key)
        self._by_run, self._cookies, self._at = by_run, cookies, time.monotonic()


adoptions = AdoptionIndex()


class InfoCache:
    """psutil objects kept between calls, so CPU percent compares against the previous look."""

    def __init__(self) -> None:
        self._procs: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()  # the actor and the ops API may ask at the same time

    def infos(self, pids: list[int]) -> list[ProcessInfo]:
        with self._lock:
            return self._infos(pids)

    def _infos(self, pids: list[int]) -> list[ProcessInfo]:
        infos: list[ProcessInfo] = []
        keep: dict[int, psutil.Process] = {}
        for pid in pids:
            try:
                proc = self._procs.get(pid)
                if proc is None or not proc.is_running():
                    proc = psutil.Process(pid)
                with proc.oneshot():
                    cmdline = proc.cmdline()
                    infos.append(
                        ProcessInfo(
                            pid=pid,
                            ppid=proc.ppid(),
                            command=" ".join(cmdline) if cmdline else proc.name(),
                            cpu_percent=proc.cpu_percent(None),
                            rss=proc.memory_info().rss,
                            create_time=proc.create_time(),
                            status=proc.status(),
                        )
                    )
                keep[pid] = proc
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue
        self._procs = keep
        return infos
