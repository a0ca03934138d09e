"""Actors served by a small shared pool of threads instead of a thread each.

A pykka `ThreadingActor` costs a thread (~0.5 ms to start, a GIL hand-over per message); 5,000
sleeping runs would hold 5,000 threads. A pooled actor has a `Mailbox` instead: putting a
message into an idle mailbox queues the mailbox on its pool, and one worker at a time serves it,
so each actor still handles one message at a time, in the order sent. A worker serves at most
`BUDGET` messages of one actor before putting it back at the end of the queue (no actor starves
the others). Workers start on demand up to `size` and leave after `linger` s without work.

Handlers must not block on another actor (the design forbids it anyway): a pool full of blocked
handlers would hold up every pooled actor. The loop body mirrors pykka's `_actor_loop_running`
(failure handling, replies, stop) and uses its documented-for-implementors hooks.
"""

from __future__ import annotations

import collections
import logging
import sys
import threading
from typing import Any

import pykka
from pykka import ActorRegistry

logger = logging.getLogger("supervisor.actors")

BUDGET = 64
"""Messages of one actor served in a row before the next actor's turn."""
SIZE = 8
"""Worker threads at most. Measured on bursts of 1,000 runs (limit 50): 2, 4 and 8 threads drain
alike within the machine's noise, 32 and a thread per actor slower; 8 leaves room for claims that
wait on a Prefect server's answer."""
LINGER = 5.0
"""s a worker with nothing to do waits before it leaves."""


class Mailbox:
    """A pooled actor's inbox (pykka's `ActorInbox` protocol: put, get, empty)."""

    __slots__ = ("_lock", "_pool", "_queue", "_queued", "_started", "actor")

    def __init__(self, pool: ActorPool, actor: pykka.Actor) -> None:
        self._pool = pool
        self.actor = actor
        self._queue: collections.deque[Any] = collections.deque()
        self._lock = threading.Lock()
        self._queued = True  # until `start`: no message is served before on_start
        self._started = False

    def put(self, envelope: Any, /) -> None:
        with self._lock:
            self._queue.append(envelope)
            if self._queued:
                return
            self._queued = True
        self._pool.submit(self)

    def get(self) -> Any:
        with self._lock:
            return self._queue.popleft()

    def empty(self) -> bool:
        return not self._queue

    def _next(self) -> Any | None:
        """The next envelope, or None (and the mailbox is idle: the next put queues it)."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            self._queued = False
            return None

    def serve(self) -> None:
        """One turn: on_start first, then up to BUDGET messages (a pool worker calls this)."""
        actor: Any = self.actor
        if not self._started:
            self._started = True
            actor._actor_loop_setup()
        for _ in range(BUDGET):
            if actor.actor_stopped.is_set():
                self._stopped()
                return
            envelope = self._next()
            if envelope is None:
                return
            _handle(actor, envelope)
        if actor.actor_stopped.is_set():
            self._stopped()
        else:
            self._pool.submit(self)  # still queued: more may wait; the next actor's turn first

    def _stopped(self) -> None:
        """Answer what is left with ActorDeadError (pykka's teardown); a message that arrives
        later queues the mailbox again and is answered the same way."""
        self.actor._actor_loop_teardown()
        with self._lock:
            if self._queue:
                self._pool.submit(self)
            else:
                self._queued = False


def _handle(actor: Any, envelope: Any) -> None:
    """pykka's loop body for one envelope."""
    try:
        response = actor._handle_receive(envelope.message)
        if envelope.reply_to is not None:
            envelope.reply_to.set(response)
    except Exception:
        if envelope.reply_to is not None:
            logger.info("Exception returned from %s to caller:", actor, exc_info=True)
            envelope.reply_to.set_exception()
        else:
            actor._handle_failure(*sys.exc_info())
            try:
                actor.on_failure(*sys.exc_info())
            except Exception:
                actor._handle_failure(*sys.exc_info())
    except BaseException:
        logger.debug("%r in %s. Stopping all actors.", sys.exc_info()[1], actor)
        actor._stop()
        ActorRegistry.stop_all()


class ActorPool:
    """Worker threads shared by every pooled actor of one system."""

    def __init__(
        self, size: int | None = None, linger: float = LINGER, name: str = "actors"
    ) -> None:
        self.size = max(1, SIZE if size is None else size)
        self.linger = linger
        self.name = name
        self._ready: collections.deque[Mailbox] = collections.deque()
        self._cond = threading.Condition(threading.Lock())
        self._workers = 0
        self._sleeping = 0
        self._closing = False
        self._count = 0

    def mailbox(self, actor: pykka.Actor) -> Mailbox:
        return Mailbox(self, actor)

    def start(self, box: Mailbox) -> None:
        """The actor is registered: run its on_start, then what was sent to it meanwhile."""
        self.submit(box)

    def submit(self, box: Mailbox) -> None:
        spawn = False
        with self._cond:
            self._ready.append(box)
            if self._sleeping >= len(self._ready):
                self._cond.notify()
            elif self._workers < self.size:
                self._workers += 1
                self._count += 1
                spawn = True
        if spawn:
            name = f"{self.name}-{self._count}"
            threading.Thread(target=self._work, name=name, daemon=True).start()

    @property
    def threads(self) -> int:
        return self._workers

    def close(self) -> None:
        """Idle workers leave now rather than after `linger` (work still queued is served)."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()

    def _work(self) -> None:
        while True:
            with self._cond:
                while not self._ready:
                    if self._closing:
                        self._workers -= 1
                        return
                    self._sleeping += 1
                    woken = self._cond.wait(self.linger)
                    self._sleeping -= 1
                    if not woken and not self._ready:
                        self._workers -= 1
                        return
                box = self._ready.popleft()
            try:
                box.serve()
            except BaseException:  # a bug here must not take the worker (and its actors) away
                logger.exception("%s: serving %s failed", self.name, box.actor)
