"""Group commit: single writes that arrive while another write holds the lock share its successor's
transaction instead of each paying its own (BEGIN IMMEDIATE … COMMIT: 0.25 → 0.1 ms a claim).

Run actors claim their runs one by one from the pool's threads; when many start together (a burst,
5,000 runs due at one instant), the claims that queued up behind the lock are applied in one
transaction, in the order they arrived, each still answered on its own: a proposal refused with a
ControlPlaneError (RunNotFound) fails alone, having written nothing; a transaction that fails as a
whole (busy, locked) fails every write in it, and none is applied.
"""

from __future__ import annotations

import collections
import sqlite3
import threading
from collections.abc import Callable
from typing import Any

from supervisor.errors import ControlPlaneError

Write = Callable[[sqlite3.Connection], Any]
Run = Callable[[Callable[[sqlite3.Connection], list[Any]]], list[Any]]
"""Runs one function in one write transaction (with the adapter's busy retries), lock held."""


class _Pending:
    __slots__ = ("done", "error", "fn", "value")

    def __init__(self, fn: Write) -> None:
        self.fn = fn
        self.done = False
        self.value: Any = None
        self.error: BaseException | None = None


class GroupCommit:
    def __init__(self, lock: threading.Lock) -> None:
        self._lock = lock  # the adapter's write lock
        self._queue: collections.deque[_Pending] = collections.deque()
        self._queue_lock = threading.Lock()

    def write(self, fn: Write, run: Run) -> Any:
        """`fn(conn)` in a write transaction, possibly shared with writes queued beside it."""
        mine = _Pending(fn)
        with self._queue_lock:
            self._queue.append(mine)
        with self._lock:
            if not mine.done:
                self._apply(run)
        if mine.error is not None:
            raise mine.error
        return mine.value

    def _apply(self, run: Run) -> None:
        with self._queue_lock:
            batch = list(self._queue)
            self._queue.clear()

        def each(conn: sqlite3.Connection) -> list[Any]:
            outcomes: list[Any] = []
            for pending in batch:
                try:
                    outcomes.append(pending.fn(conn))
                except ControlPlaneError as exc:  # refused before writing: this one alone
                    outcomes.append(exc)
            return outcomes

        try:
            outcomes = run(each)
        except BaseException as exc:
            for pending in batch:
                pending.error = exc if len(batch) == 1 else _copy(exc)
                pending.done = True
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, ControlPlaneError):
                pending.error = outcome
            else:
                pending.value = outcome
            pending.done = True


def _copy(exc: BaseException) -> BaseException:
    """The same error for each writer of a failed group (one instance raised in many threads
    would share one traceback)."""
    try:
        return type(exc)(*exc.args)
    except Exception:
        return exc
