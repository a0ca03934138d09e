"""One daemon thread around an epoll set: the watcher (pidfds) and the output pump (pipes) are two.

Registration works from any thread (epoll_ctl is thread safe); `call_soon` runs a function on the
loop's thread (woken through an eventfd). An exception in a callback is logged; the thread lives on.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import logging
import os
import select
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)

Callback = Callable[[int], None]


class EpollLoop:
    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._callbacks: dict[int, tuple[Callback, bool]] = {}
        self._pending: collections.deque[Callable[[], None]] = collections.deque()
        self._epoll: select.epoll | None = None
        self._wakeup = -1

    def _ensure_started(self) -> select.epoll:
        epoll = self._epoll
        if epoll is not None:
            return epoll
        with self._lock:
            if self._epoll is None:
                epoll = select.epoll()
                self._wakeup = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                epoll.register(self._wakeup, select.EPOLLIN)
                thread = threading.Thread(
                    target=self._run, args=(epoll,), name=self.name, daemon=True
                )
                thread.start()
                self._epoll = epoll
            return self._epoll

    def add(self, fd: int, callback: Callback, *, oneshot: bool = False) -> None:
        """Call `callback(events)` whenever `fd` is readable (only once if `oneshot`)."""
        epoll = self._ensure_started()
        with self._lock:
            self._callbacks[fd] = (callback, oneshot)
        try:
            epoll.register(fd, select.EPOLLIN)
        except FileExistsError:  # a stale registration of a reused descriptor number
            epoll.modify(fd, select.EPOLLIN)

    def remove(self, fd: int) -> None:
        """Forget `fd`; call before closing it."""
        with self._lock:
            if self._callbacks.pop(fd, None) is None:
                return
        if self._epoll is not None:
            with contextlib.suppress(OSError, ValueError):
                self._epoll.unregister(fd)

    def call_soon(self, function: Callable[[], None]) -> None:
        self._ensure_started()
        self._pending.append(function)
        os.eventfd_write(self._wakeup, 1)

    def _run(self, epoll: select.epoll) -> None:
        while True:
            try:
                self._turn(epoll)
            except Exception:
                log.exception("%s: unexpected error (continuing)", self.name)

    def _turn(self, epoll: select.epoll) -> None:
        for fd, events in epoll.poll():
            if fd == self._wakeup:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(self._wakeup)
                while self._pending:
                    self._invoke(self._pending.popleft())
                continue
            with self._lock:
                entry = self._callbacks.get(fd)
                if entry is not None and entry[1]:
                    del self._callbacks[fd]
                    epoll.unregister(fd)
            if entry is not None:
                self._invoke(functools.partial(entry[0], events))

    def _invoke(self, function: Callable[[], None]) -> None:
        try:
            function()
        except Exception:
            log.exception("%s: callback failed", self.name)
