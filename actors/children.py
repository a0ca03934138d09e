"""The root's children and its restart policy: started in order, restarted one-for-one within a
budget (at most `max_restarts` in `restart_window` s), stopped in reverse. Used from the root's
thread only; each (re)start binds the child's ref in the system's directory, through which
everyone reaches it (actors/directory.py)."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

from actors.base import SystemContext

logger = logging.getLogger("supervisor")


@dataclass
class _Child:
    factory: Callable[[], pykka.ActorRef[Any]]
    ref: pykka.ActorRef[Any]
    failures: deque[float] = field(default_factory=deque)


class Children:
    def __init__(self, ctx: SystemContext) -> None:
        self._ctx = ctx
        sup = ctx.settings.supervisor
        self._max_restarts = sup.max_restarts
        self._window = sup.restart_window
        self._children: dict[str, _Child] = {}
        self._stopping: list[pykka.Future[bool]] = []

    def __contains__(self, name: object) -> bool:
        return name in self._children

    def add(self, name: str, factory: Callable[[], pykka.ActorRef[Any]]) -> None:
        child = self._children[name] = _Child(factory, factory())
        self._ctx.directory.bind(name, child.ref)

    def tell(self, name: str, message: Any) -> None:
        self._ctx.directory.tell(name, message)

    def restart(self, name: str, error: str, handed_back: tuple[Any, ...] = ()) -> str | None:
        """Restart a child that died of `error`; None when done, else why it may not be (over
        its budget: then it is stopped for good). `handed_back` goes to the new one first."""
        child = self._children.get(name)
        if child is None:
            return None
        now = self._ctx.clock.monotonic()
        while child.failures and now - child.failures[0] > self._window:
            child.failures.popleft()
        if len(child.failures) >= self._max_restarts:
            self.stop(name)  # dead for good: shutdown must not wait on it
            if handed_back:
                logger.error("%s is gone; dropped %d messages: %r", name, len(handed_back),
                             handed_back)
            return f"actor {name} failed {len(child.failures) + 1} times within {self._window:g}s"
        child.failures.append(now)
        child.ref = child.factory()
        self._ctx.directory.bind(name, child.ref, first=handed_back)
        self._ctx.board.restarted(name, error)
        self._ctx.metrics.actor_restarts.labels(name).inc()
        return None

    def stop(self, name: str) -> None:
        child = self._children.pop(name, None)
        if child is not None:
            self._ctx.directory.unbind(name)
            self._stopping.append(child.ref.stop(block=False))

    def join(self, timeout: float) -> None:
        """Wait (at most `timeout` s in all) until the children asked to stop have stopped, so
        the system is stopped when the root is: no poller still mid-call on a closed plane."""
        deadline = time.monotonic() + timeout  # a real wait for threads, whatever the clock
        while self._stopping:
            left = deadline - time.monotonic()
            try:
                self._stopping[0].get(timeout=max(0.0, left))
            except pykka.Timeout:
                logger.warning("%d actors had not stopped within %gs", len(self._stopping), timeout)
                return
            except Exception:  # it stopped one way or another
                pass
            self._stopping.pop(0)

    def stop_all(self, but: str | None = None) -> None:
        """Reverse start order."""
        for name in reversed(list(self._children)):
            if name != but:
                self.stop(name)
