"""Timers: time reaches actors only as messages, never as sleeps inside handlers.

`ThreadScheduler` runs every timer of a supervisor on one thread (a heap of deadlines), so 500 runs
with timeouts cost one thread, not 500. `ManualScheduler` is its test double: time moves only when
a test calls `advance()`, and due callbacks run in the test's thread, in deadline order.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Callable
from typing import Protocol

from supervisor.clock import Clock, FakeClock

logger = logging.getLogger(__name__)


class TimerHandle:
    """Returned by `call_later`; `cancel()` is idempotent and safe from any thread."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler(Protocol):
    clock: Clock

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` after `delay` s: quick and non-blocking, typically a `tell`."""
        ...

    def close(self) -> None: ...


def _run(handle: TimerHandle) -> None:
    if handle.cancelled:
        return
    try:
        handle.callback()
    except Exception:  # a dead actor's tell, say: the timer thread must survive it
        logger.debug("timer callback failed", exc_info=True)


class ThreadScheduler:
    """One daemon thread sleeping on a condition until the earliest deadline."""

    def __init__(self, clock: Clock | None = None, name: str = "supervisor-timers") -> None:
        self.clock = clock or Clock()
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._cond = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(self.clock.monotonic() + max(0.0, delay), callback)
        with self._cond:
            heapq.heappush(self._heap, (handle.deadline, next(self._seq), handle))
            if self._heap[0][2] is handle:
                self._cond.notify()
        return handle

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout=5)

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._closed:
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - self.clock.monotonic()
                    if wait <= 0:
                        break
                    self._cond.wait(wait)
                if self._closed:
                    return
                _, _, handle = heapq.heappop(self._heap)
            _run(handle)


class ManualScheduler:
    """Deterministic timers for unit tests, driven by a FakeClock."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock: FakeClock = clock or FakeClock()
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(self.clock.monotonic() + max(0.0, delay), callback)
        with self._lock:
            heapq.heappush(self._heap, (handle.deadline, next(self._seq), handle))
        return handle

    def pending(self) -> list[float]:
        """Delays from now of every timer not yet fired nor cancelled, soonest first."""
        now = self.clock.monotonic()
        with self._lock:
            return sorted(d - now for d, _, h in self._heap if not h.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward, firing each due timer at its own deadline, in order."""
        target = self.clock.monotonic() + seconds
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > target:
                    break
                deadline, _, handle = heapq.heappop(self._heap)
            self.clock.advance(max(0.0, deadline - self.clock.monotonic()))
            _run(handle)
        self.clock.advance(max(0.0, target - self.clock.monotonic()))

    def close(self) -> None:
        with self._lock:
            self._heap.clear()
