"""The status board: each actor writes its own state here; readers never ask an actor.

That is how the ops API answers at once even when an actor is busy or stuck: it reads the last
state each actor published. A value in `owns` may be a callable, evaluated when read (a run's
live process tree, say).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime
from enum import StrEnum
from typing import Any, NotRequired, TypedDict


class ActorState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    STOPPED = "stopped"
    FAILED = "failed"


class BoardEntry(TypedDict):
    """One actor's entry, as `get` and `entries` return it (and, resolved, `GET /actors`)."""

    name: str
    kind: str
    parent: str | None
    state: ActorState
    restarts: int
    last_tick: datetime | None
    last_error: str | None
    owns: dict[str, Any]
    """What the actor publishes about what it owns (a run, the slots, a queue's length)."""
    failing: NotRequired[bool]
    """A poller or the reporter cannot reach the control plane (it backs off)."""


def resolve(value: Any) -> Any:
    """A published value as JSON-ready data: callables are called now."""
    if callable(value):
        try:
            return value()
        except Exception as exc:  # the thing went away while we looked
            return {"error": str(exc)}
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class StatusBoard:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[str, BoardEntry] = {}

    def register(self, name: str, kind: str, parent: str | None) -> None:
        with self._lock:
            previous = self._entries.get(name)
            self._entries[name] = BoardEntry(
                name=name,
                kind=kind,
                parent=parent,
                state=ActorState.STARTING,
                restarts=previous["restarts"] if previous else 0,
                last_tick=None,
                last_error=previous["last_error"] if previous else None,
                owns={},
            )

    def update(self, name: str, **fields: Any) -> None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None:
                entry.update(fields)  # type: ignore[typeddict-item]

    def restarted(self, name: str, error: str) -> None:
        """The root restarted this actor after `error`: one more restart on its entry."""
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None:
                entry["restarts"] += 1
                entry["last_error"] = error

    def own(self, name: str, **owns: Any | Callable[[], Any]) -> None:
        with self._lock:
            entry = self._entries.get(name)
            if entry is not None:
                entry["owns"] = {**entry["owns"], **owns}

    def remove(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)

    def get(self, name: str) -> BoardEntry | None:
        with self._lock:
            entry = self._entries.get(name)
            return entry.copy() if entry else None

    def entries(self) -> list[BoardEntry]:
        """Flat copies, callables not yet evaluated."""
        with self._lock:
            copies = [entry.copy() for entry in self._entries.values()]
            for copy in copies:
                copy["owns"] = dict(copy["owns"])
            return copies

    def tree(self) -> list[dict[str, Any]]:
        """The actor tree as JSON-ready dicts: each with its `children`, roots first."""
        flat = self.entries()
        nodes: dict[str, dict[str, Any]] = {}
        for entry in flat:
            node = {k: resolve(v) for k, v in entry.items() if k not in ("owns", "parent")}
            node["owns"] = {k: resolve(v) for k, v in entry["owns"].items()}
            node["children"] = []
            nodes[entry["name"]] = node
        roots: list[dict[str, Any]] = []
        for entry in flat:
            parent = nodes.get(entry["parent"]) if entry["parent"] else None
            (parent["children"] if parent else roots).append(nodes[entry["name"]])
        return roots
