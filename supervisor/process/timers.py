"""One daemon thread for every deadline of every run (grace periods, output drains): a heap."""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class Timer:
    __slots__ = ("cancelled", "deadline", "function")

    def __init__(self, deadline: float, function: Callable[[], None]) -> None:
        self.deadline = deadline
        self.function = function
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class TimerThread:
    def __init__(self, name: str) -> None:
        self.name = name
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()
        self._started = False

    def call_at(self, deadline: float, function: Callable[[], None]) -> Timer:
        """Run `function` on the timer thread at `deadline` (time.monotonic seconds)."""
        timer = Timer(deadline, function)
        with self._cond:
            if not self._started:
                threading.Thread(target=self._run, name=self.name, daemon=True).start()
                self._started = True
            heapq.heappush(self._heap, (deadline, next(self._seq), timer))
            if self._heap[0][2] is timer:
                self._cond.notify()
        return timer

    def call_later(self, delay: float, function: Callable[[], None]) -> Timer:
        return self.call_at(time.monotonic() + delay, function)

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2].cancelled:
                        heapq.heappop(self._heap)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        timer = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            try:
                timer.function()
            except Exception:
                log.exception("%s: timer callback failed", self.name)
