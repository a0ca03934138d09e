"""Pooled actors: many actors on a few threads, each still one message at a time, in order."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka
import pytest

from actors.pool import ActorPool
from tests.waiting import wait_until


class Recorder(pykka.ThreadingActor):
    """A pykka actor whose inbox and loop come from a pool (as SupervisedActor does it)."""

    def __init__(self, pool: ActorPool, log: list[Any], busy: dict[str, int]) -> None:
        self.pool = pool
        super().__init__()
        self.log = log
        self.busy = busy
        self.seen: list[int] = []

    def _create_actor_inbox(self) -> Any:  # type: ignore[override]
        return self.pool.mailbox(self)

    def _start_actor_loop(self) -> None:
        self.pool.start(self.actor_inbox)  # type: ignore[arg-type]

    def on_start(self) -> None:
        self.log.append(("started", self.actor_urn))

    def on_receive(self, message: Any) -> Any:
        if message == "fail":
            raise RuntimeError("boom")
        if message == "seen":
            return list(self.seen)
        if isinstance(message, threading.Event):
            message.wait(5)
            return None
        key = self.actor_urn
        self.busy[key] = self.busy.get(key, 0) + 1
        assert self.busy[key] == 1, "two threads in one actor"
        if not self.seen:
            self.log.append(("first", key))
        time.sleep(0)  # hand the GIL over: a second thread in this actor would show now
        self.seen.append(message)
        self.busy[key] -= 1
        return message


def test_each_actor_handles_its_messages_in_order_one_at_a_time_on_few_threads() -> None:
    # Given a pool of 3 threads and 40 actors
    pool = ActorPool(size=3, linger=0.5)
    log: list[Any] = []
    busy: dict[str, int] = {}
    refs = [Recorder.start(pool, log, busy) for _ in range(40)]
    # When 4 threads each send every actor 200 numbered messages
    def send(offset: int) -> None:
        for i in range(200):
            for ref in refs:
                ref.tell((offset, i))

    senders = [threading.Thread(target=send, args=(k,)) for k in range(4)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    # Then each actor saw every message, each sender's in the order sent, after on_start
    for ref in refs:
        seen = ref.ask("seen", timeout=10)
        assert len(seen) == 800
        for k in range(4):
            assert [i for (o, i) in seen if o == k] == list(range(200))
    for ref in refs:
        urn = ref.actor_urn
        assert log.index(("started", urn)) < log.index(("first", urn))
    assert pool.threads <= 3
    for ref in refs:
        ref.stop()
    wait_until(lambda: pool.threads == 0, timeout=5, message="idle workers left")


def test_a_failure_stops_only_that_actor_and_pending_asks_get_actor_dead() -> None:
    pool = ActorPool(size=2, linger=0.5)
    failing = Recorder.start(pool, [], {})
    other = Recorder.start(pool, [], {})
    failing.tell("fail")
    wait_until(lambda: not failing.is_alive(), timeout=5, message="failed actor stopped")
    with pytest.raises(pykka.ActorDeadError):
        failing.ask("seen", timeout=5)
    assert other.ask(7, timeout=5) == 7
    other.stop(block=True, timeout=5)
    pool.close()
    wait_until(lambda: pool.threads == 0, timeout=5, message="workers left on close")


def test_stop_answers_what_waits_behind_it_with_actor_dead() -> None:
    # Given the pool's one worker held by another actor's handler
    pool = ActorPool(size=1, linger=0.5)
    holder = Recorder.start(pool, [], {})
    ref = Recorder.start(pool, [], {})
    release = threading.Event()
    holder.tell(release)
    # When an actor is told 1, then stop, then asked something
    ref.tell(1)
    ref.stop(block=False)
    pending = ref.ask("seen", block=False)
    release.set()
    # Then 1 was handled, the stop too, and the ask behind it is answered with ActorDeadError
    with pytest.raises(pykka.ActorDeadError):
        pending.get(timeout=5)
    assert not ref.is_alive()
    holder.stop(block=True, timeout=5)
    pool.close()
