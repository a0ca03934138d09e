"""The root's run table: the runs holding a slot, and those waiting for one, oldest first.

An entry is a slot: it is made when a run's actor starts (the actor claims at once) and removed
when the run's tree is reaped, so the count of entries is the count of slots in use. The table
also remembers the last runs it ended: a control plane whose reads can lag (a Prefect server on
SQLite) may offer a finished run as due again, and it must not run twice.
"""

from __future__ import annotations

import bisect
import contextlib
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pykka

from supervisor.models import Run
from supervisor.process import RunProcess

ENDED_KEPT = 10_000


@dataclass
class RunEntry:
    ref: pykka.ActorRef[Any]
    deployment: str
    scheduled: datetime | None = None
    process: RunProcess | None = None
    actor_error: str | None = None
    """Set when the run's actor died: the root then owns the tree's end."""

    def tell(self, message: Any) -> None:
        """A run actor stops right after telling the root RunFinished, so it may be gone while
        that message still waits in the root's inbox: then there is nothing left to tell."""
        with contextlib.suppress(pykka.ActorDeadError):
            self.ref.tell(message)


class RunTable:
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._entries: dict[uuid.UUID, RunEntry] = {}
        self._waiting: list[tuple[datetime, uuid.UUID, Run]] = []
        self._waiting_ids: set[uuid.UUID] = set()
        self._ended: OrderedDict[uuid.UUID, datetime | None] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, run_id: uuid.UUID) -> bool:
        return run_id in self._entries

    def __iter__(self) -> Iterator[tuple[uuid.UUID, RunEntry]]:
        return iter(list(self._entries.items()))

    def ids(self) -> frozenset[uuid.UUID]:
        return frozenset(self._entries)

    def get(self, run_id: uuid.UUID) -> RunEntry | None:
        return self._entries.get(run_id)

    def knows(self, run_id: uuid.UUID) -> bool:
        return run_id in self._entries or run_id in self._waiting_ids

    def ended(self, run: Run) -> bool:
        """Whether this run, due at this time, already ran here (a retry is due at another)."""
        return run.id in self._ended and self._ended[run.id] == run.scheduled_time

    @property
    def free(self) -> int:
        return self.limit - len(self._entries)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def admit(self, run_id: uuid.UUID, entry: RunEntry) -> None:
        self._entries[run_id] = entry

    def release(self, run_id: uuid.UUID, *, ran: bool = True) -> RunEntry | None:
        """Free the slot; `ran=False` (the claim failed or was refused) lets a later poll offer
        the run again."""
        entry = self._entries.pop(run_id, None)
        if entry is not None and ran:
            self._ended[run_id] = entry.scheduled
            while len(self._ended) > ENDED_KEPT:
                self._ended.popitem(last=False)
        return entry

    def wait(self, run: Run) -> None:
        bisect.insort(self._waiting, (run.scheduled_time, run.id, run))
        self._waiting_ids.add(run.id)

    def next_waiting(self, may_start: Callable[[Run], bool] = lambda run: True) -> Run | None:
        """The oldest waiting run that `may_start` (its deployment's limit), if a slot is free."""
        if not self._waiting or self.free <= 0:
            return None
        index = next((i for i, (_, _, r) in enumerate(self._waiting) if may_start(r)), None)
        if index is None:
            return None
        _, run_id, run = self._waiting.pop(index)
        self._waiting_ids.discard(run_id)
        return run

    def clear_waiting(self) -> None:
        self._waiting.clear()
        self._waiting_ids.clear()
