"""Timers: one heap of deadlines on one thread, shared by the actors and the process layer.

Actors get time only as messages (a timer's callback is a `tell`); the process layer's grace
periods and output drains are callbacks onto its own threads. Both take the same injected
`Scheduler`, so a supervisor has one timer thread and one clock, and a test moves both with a
`ManualScheduler`: time then passes only on `advance()`, and due callbacks run in the test's
thread, in deadline order. It lives here, beside the clock, because `supervisor.process` may not
import the actors.
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
    """Returned by `call_at`/`call_later`; `cancel()` is idempotent and safe from any thread."""

    __slots__ = ("callback", "cancelled", "deadline")

    def __init__(self, deadline: float, callback: Callable[[], None]) -> None:
        self.deadline = deadline
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler(Protocol):
    clock: Clock

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        """Run `callback` once `clock.monotonic()` reaches `deadline`: quick and non-blocking
        (a `tell`, a hand-off to another thread), for it delays every later timer."""
        ...

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle: ...

    def close(self) -> None: ...


def _run(handle: TimerHandle) -> None:
    if handle.cancelled:
        return
    try:
        handle.callback()
    except Exception:  # a bug: the timer thread must survive it, and the log must show it
        logger.exception("timer callback %r failed", handle.callback)


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

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(deadline, callback)
        with self._cond:
            heapq.heappush(self._heap, (deadline, next(self._seq), handle))
            if self._heap[0][2] is handle:
                self._cond.notify()
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self.call_at(self.clock.monotonic() + max(0.0, delay), callback)

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
                    while self._heap and self._heap[0][2].cancelled:  # re-armed grace deadlines
                        heapq.heappop(self._heap)
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
    """Deterministic timers for tests, driven by a FakeClock."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock: FakeClock = clock or FakeClock()
        self._heap: list[tuple[float, int, TimerHandle]] = []
        self._seq = itertools.count()
        self._lock = threading.Lock()

    def call_at(self, deadline: float, callback: Callable[[], None]) -> TimerHandle:
        handle = TimerHandle(deadline, callback)
        with self._lock:
            heapq.heappush(self._heap, (deadline, next(self._seq), handle))
        return handle

    def call_later(self, delay: float, callback: Callable[[], None]) -> TimerHandle:
        return self.call_at(self.clock.monotonic() + max(0.0, delay), callback)

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
