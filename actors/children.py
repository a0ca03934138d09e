"""The root's children: started in order, found by name, restarted within a budget, stopped in
reverse. Used from the root's thread; `ref()` is also read by run actors (a dict read)."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pykka

logger = logging.getLogger("supervisor")


@dataclass
class _Child:
    factory: Callable[[], pykka.ActorRef[Any]]
    ref: pykka.ActorRef[Any] | None = None
    failures: deque[float] = field(default_factory=deque)
    held: list[Any] = field(default_factory=list)


class Children:
    def __init__(self, max_restarts: int, restart_window: float) -> None:
        self._max_restarts = max_restarts
        self._window = restart_window
        self._children: dict[str, _Child] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._children

    def add(self, name: str, factory: Callable[[], pykka.ActorRef[Any]]) -> None:
        self._children[name] = _Child(factory, factory())

    def ref(self, name: str) -> pykka.ActorRef[Any] | None:
        """The child's current ref (a restart replaces it), or None."""
        child = self._children.get(name)
        return child.ref if child is not None else None

    def tell(self, name: str, message: Any) -> None:
        """Deliver, or hold the message while that child is being restarted."""
        child = self._children.get(name)
        if child is None:
            logger.error("%s is gone; dropped %r", name, message)
            return
        try:
            if child.ref is None:
                raise pykka.ActorDeadError(name)
            child.ref.tell(message)
        except pykka.ActorDeadError:
            child.held.append(message)

    def restart(self, name: str, now: float) -> str | None:
        """Restart a child that died; None when done, else why it may not be (over budget)."""
        child = self._children.get(name)
        if child is None:
            return None
        while child.failures and now - child.failures[0] > self._window:
            child.failures.popleft()
        if len(child.failures) >= self._max_restarts:
            return f"actor {name} failed {len(child.failures) + 1} times within {self._window:g}s"
        child.failures.append(now)
        child.ref = child.factory()
        for message in child.held:
            child.ref.tell(message)
        child.held.clear()
        return None

    def stop(self, name: str) -> None:
        child = self._children.pop(name, None)
        if child is not None and child.ref is not None:
            child.ref.stop(block=False)

    def stop_all(self, but: str | None = None) -> None:
        """Reverse start order."""
        for name in reversed(list(self._children)):
            if name != but:
                self.stop(name)
