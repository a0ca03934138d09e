"""Bounded calls into the system: a request never waits on it longer than a deadline.

Each call runs on a daemon thread of its own; the request thread waits up to the deadline and
answers 503 after it. A call that never returns keeps its thread, so at most `limit` calls may
be outstanding at once: past that the server answers 503 at once instead of piling up threads.
Daemon threads: a stuck view never holds up the host program's exit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Busy(Exception):
    """The call did not finish in time, or too many calls are still outstanding."""


class Guard:
    def __init__(self, deadline: float, limit: int = 8) -> None:
        self.deadline = deadline
        self._slots = threading.BoundedSemaphore(limit)

    def call(self, fn: Callable[[], T], what: str) -> T:
        """fn() within the deadline; its exception is re-raised here; Busy when it overruns."""
        if not self._slots.acquire(blocking=False):
            raise Busy(f"{what}: too many requests still waiting on the supervisor")
        done = threading.Event()
        outcome: list[T] = []
        failure: list[BaseException] = []

        def work() -> None:
            try:
                outcome.append(fn())
            except BaseException as exc:  # handed to the waiting request thread
                failure.append(exc)
            finally:
                self._slots.release()
                done.set()

        threading.Thread(target=work, name=f"ops-{what}", daemon=True).start()
        if not done.wait(self.deadline):
            raise Busy(f"{what}: the supervisor did not answer within {self.deadline:g}s")
        if failure:
            raise failure[0]
        return outcome[0]
