"""The system's directory of its named actors: the one way any actor reaches a sibling.

Run actors (on pool threads) and the root tell a named child (the state reporter, a storage
puller, a poller) through it, never through a ref they kept or through the root. A tell to a
child that died and awaits its restart is parked; when the root binds the successor, what the
dead one handed back goes first (it was sent earlier), then what was parked, in order, and only
then live tells. So no message to a name is lost or reordered across a restart.

Why not route every tell through the root instead: its inbox is the busiest in a burst (every
launch) and each report would wait behind it, the restart ordering needs the same rule either
way, and routing is not supervision. The extra hop itself measured within noise (see the commit
that made this module).
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pykka

logger = logging.getLogger("supervisor")


class Directory:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refs: dict[str, pykka.ActorRef[Any]] = {}
        self._parked: dict[str, list[Any]] = {}

    def __contains__(self, name: str) -> bool:
        with self._lock:
            return name in self._refs

    def bind(self, name: str, ref: pykka.ActorRef[Any], first: Iterable[Any] = ()) -> None:
        """`ref` answers to `name` from now on (a start or a restart). `first`: what its dead
        predecessor handed back; it is delivered before the tells parked meanwhile."""
        with self._lock:
            pending = [*first, *self._parked.pop(name, ())]
            for index, message in enumerate(pending):
                try:
                    ref.tell(message)
                except pykka.ActorDeadError:  # died at its start: the rest waits for the next
                    self._parked[name] = pending[index:]
                    break
            self._refs[name] = ref

    def unbind(self, name: str) -> None:
        """The name is gone for good (stopped, or over its restart budget)."""
        with self._lock:
            self._refs.pop(name, None)
            dropped = self._parked.pop(name, [])
        if dropped:
            logger.error("%s is gone; dropped %d messages: %r", name, len(dropped), dropped)

    def tell(self, name: str, message: Any) -> None:
        """Deliver now, or park until `name` is bound again. Under the lock, so a tell cannot
        slip in between a restart's handed-back messages and the parked ones."""
        with self._lock:
            ref = self._refs.get(name)
            if ref is None:
                logger.error("%s is gone; dropped %r", name, message)
                return
            try:
                ref.tell(message)
            except pykka.ActorDeadError:
                self._parked.setdefault(name, []).append(message)

    @contextlib.contextmanager
    def quiet(self) -> Iterator[None]:
        """No tell runs meanwhile: a dying actor takes what is left in its inbox under this, so a
        tell that found it alive a moment before its death cannot put a message in after."""
        with self._lock:
            yield

    def parked(self, name: str) -> int:
        with self._lock:
            return len(self._parked.get(name, ()))
