"""A bound on the run logs that hold a descriptor at once (the least recently written lose it).

Every descriptor the supervisor holds is copied into each child it spawns and closed there again
(the fork's copy of the descriptor table, then close_fds/exec): a cost per spawn that grows with
the descriptors held. 5,000 sleeping runs each holding its log open made a spawn copy 5,000 more;
a log is opened again (O_APPEND) when a run that lost its descriptor writes again.
"""

from __future__ import annotations

import collections
import threading
from typing import Protocol

HELD = 128
"""Log descriptors held at most; a run writing after losing its own pays one open (~10 us)."""


class _Holder(Protocol):
    def release(self) -> None: ...


class Descriptors:
    def __init__(self, limit: int = HELD) -> None:
        self._limit = limit
        self._held: collections.OrderedDict[_Holder, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def used(self, holder: _Holder) -> None:
        """`holder` holds a descriptor and just wrote: the last to lose it."""
        with self._lock:
            self._held[holder] = None
            self._held.move_to_end(holder)
            evicted = []
            while len(self._held) > self._limit:
                evicted.append(self._held.popitem(last=False)[0])
        for other in evicted:
            other.release()

    def dropped(self, holder: _Holder) -> None:
        """`holder` closed its descriptor itself."""
        with self._lock:
            self._held.pop(holder, None)


logs = Descriptors()
