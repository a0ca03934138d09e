"""The layer's shared threads, started lazily: a few threads for all runs, never one per run.

Timers are not the layer's own: a run's grace and drain deadlines go on the `Scheduler` it was
started with (the supervisor's, shared with its actors), else on `default_timers()`, one real-time
scheduler for callers with none (tools, tests of the layer alone).
A forked child (multiprocessing "fork") gets fresh, unstarted ones: threads do not survive a fork.
"""

from __future__ import annotations

import os
import threading

from supervisor.process.loop import EpollLoop
from supervisor.process.worker import Worker
from supervisor.timers import Scheduler, ThreadScheduler


class Runtime:
    def __init__(self) -> None:
        self.mains: set[int] = set()  # runs' main processes: our children, not adopted orphans
        self.watcher = EpollLoop("supervisor-process-watcher")  # pidfds: exits
        self.pump = EpollLoop("supervisor-process-output")  # pipes: output lines
        self.worker = Worker("supervisor-process-ender", self.mains)  # ends, batched scans
        self._timers: Scheduler | None = None
        self._devnull = -1
        self._lock = threading.Lock()

    def devnull(self) -> int:
        """One /dev/null for every run's stdin (Popen's DEVNULL opens and closes one per run)."""
        if self._devnull < 0:
            with self._lock:  # runs start from several pool threads at once
                if self._devnull < 0:
                    self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return self._devnull

    def default_timers(self) -> Scheduler:
        """The scheduler of runs started without one; its thread starts on first use."""
        if self._timers is None:
            with self._lock:
                if self._timers is None:
                    self._timers = ThreadScheduler(name="supervisor-process-timers")
        return self._timers


_runtime = Runtime()


def get() -> Runtime:
    return _runtime


def _reset_after_fork() -> None:
    global _runtime
    _runtime = Runtime()


os.register_at_fork(after_in_child=_reset_after_fork)
