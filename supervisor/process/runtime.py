"""The layer's shared threads, started lazily: four threads for all runs, never one per run.

A forked child (multiprocessing "fork") gets fresh, unstarted ones: threads do not survive a fork.
"""

from __future__ import annotations

import os
import threading

from supervisor.process.loop import EpollLoop
from supervisor.process.timers import TimerThread
from supervisor.process.worker import Worker


class Runtime:
    def __init__(self) -> None:
        self.mains: set[int] = set()  # runs' main processes: our children, not adopted orphans
        self.watcher = EpollLoop("supervisor-process-watcher")  # pidfds: exits
        self.pump = EpollLoop("supervisor-process-output")  # pipes: output lines
        self.timers = TimerThread("supervisor-process-timers")  # grace and drain deadlines
        self.worker = Worker("supervisor-process-ender", self.mains)  # ends, batched scans
        self._devnull = -1
        self._lock = threading.Lock()

    def devnull(self) -> int:
        """One /dev/null for every run's stdin (Popen's DEVNULL opens and closes one per run)."""
        if self._devnull < 0:
            with self._lock:  # runs start from several pool threads at once
                if self._devnull < 0:
                    self._devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        return self._devnull


_runtime = Runtime()


def get() -> Runtime:
    return _runtime


def _reset_after_fork() -> None:
    global _runtime
    _runtime = Runtime()


os.register_at_fork(after_in_child=_reset_after_fork)
