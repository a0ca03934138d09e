"""The directory: the one path to a named sibling, with nothing lost or reordered across a
restart of that sibling."""

from __future__ import annotations

import sys
import threading
from typing import Any

import pykka

from actors.base import SupervisedActor, SystemContext
from actors.board import StatusBoard
from actors.children import Children
from actors.directory import Directory
from actors.messages import ChildFailed
from supervisor.controlplane.memory import MemoryControlPlane
from supervisor.metrics import Metrics
from supervisor.timers import ManualScheduler
from tests.actors.harness import make_settings
from tests.waiting import wait_until


class _Recorder(pykka.ThreadingActor):
    def __init__(self, log: list[Any]) -> None:
        super().__init__()
        self.log = log

    def on_receive(self, message: Any) -> None:
        self.log.append(message)


def test_a_tell_to_a_dead_sibling_is_parked_and_delivered_after_what_it_handed_back():
    directory, log = Directory(), []
    first = _Recorder.start([])
    directory.bind("sink", first)
    directory.tell("sink", "a")
    # Given the sibling died (it handed back what it held: "b")
    first.stop()
    # When a sibling tells it meanwhile
    directory.tell("sink", "c")
    assert directory.parked("sink") == 1
    # Then its successor gets what was handed back, then what was parked, then live tells
    second = _Recorder.start(log)
    try:
        directory.bind("sink", second, first=("b",))
        directory.tell("sink", "d")
        wait_until(lambda: len(log) == 3)
        assert log == ["b", "c", "d"]
        assert directory.parked("sink") == 0
    finally:
        second.stop()


def test_a_name_gone_for_good_drops_what_was_parked():
    directory = Directory()
    ref = _Recorder.start([])
    directory.bind("sink", ref)
    ref.stop()
    directory.tell("sink", "parked")
    directory.unbind("sink")
    directory.tell("sink", "late")  # logged and dropped, not raised
    assert "sink" not in directory
    assert directory.parked("sink") == 0


class _Sink(SupervisedActor):
    """Dies on "die", handing back its inbox the way the state reporter does."""

    def __init__(self, name: str, ctx: Any, parent: Any, log: list[Any]) -> None:
        super().__init__(name, ctx, parent)
        self.log = log

    def on_receive(self, message: Any) -> None:
        if message == "die":
            raise RuntimeError("a bug")
        self.log.append(message)

    def handed_back(self) -> tuple[Any, ...]:
        left = []
        while not self.actor_inbox.empty():
            left.append(self.actor_inbox.get().message)
        return tuple(left)


class _Root(pykka.ThreadingActor):
    """Restarts the sink on each death, as the supervisor does."""

    def __init__(self, ctx: Any, log: list[Any]) -> None:
        super().__init__()
        self.ctx, self.log = ctx, log
        self.restarts = 0

    def on_start(self) -> None:
        self.children = Children(self.ctx)
        self.children.add("sink", lambda: _Sink.start("sink", self.ctx, self.actor_ref, self.log))

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, ChildFailed):
            assert self.children.restart(message.name, message.error, message.handed_back) is None
            self.restarts += 1
        return self.restarts


def test_tells_from_many_threads_survive_repeated_restarts_complete_and_in_order(tmp_path):
    ctx = SystemContext(make_settings(tmp_path, [], max_restarts=1000), MemoryControlPlane(),
                        ManualScheduler(), StatusBoard(), Metrics())
    log: list[Any] = []
    root = _Root.start(ctx, log)
    senders, deaths = 4, 5
    sent = [0] * senders
    done = threading.Event()
    try:
        root.ask("ready", timeout=5)

        def send(sender: int) -> None:
            while not done.is_set() and sent[sender] < 50_000:  # bounded on a slow host
                ctx.directory.tell("sink", (sender, sent[sender]))
                sent[sender] += 1

        threads = [threading.Thread(target=send, args=(s,)) for s in range(senders)]
        for thread in threads:
            thread.start()
        # When the sink dies again and again while they send (each "die" kills one incarnation)
        for death in range(1, deaths + 1):
            ctx.directory.tell("sink", "die")
            wait_until(lambda d=death: root.ask("restarts?", timeout=5) == d, message="restart")
        done.set()
        for thread in threads:
            thread.join(10)
        # Then every message arrived once, and each sender's in the order sent
        wait_until(lambda: len(log) == sum(sent), message=f"{len(log)} of {sum(sent)}")
        for sender in range(senders):
            assert [i for s, i in log if s == sender] == list(range(sent[sender]))
    finally:
        done.set()
        root.stop()
        for ref in pykka.ActorRegistry.get_by_class(_Sink):
            ref.stop()


class _SlowToStop(pykka.ThreadingActor):
    """Its stop takes until `release` is set (a poller finishing its last call, say)."""

    def __init__(self, release: threading.Event, stopped: threading.Event) -> None:
        super().__init__()
        self.release, self.stopped = release, stopped

    def on_stop(self) -> None:
        self.release.wait(10)
        self.stopped.set()


def test_join_returns_once_the_children_asked_to_stop_have_stopped(tmp_path):
    """The root says "stopped" only after its children have: none is left mid-call."""
    ctx = SystemContext(make_settings(tmp_path, []), MemoryControlPlane(), ManualScheduler(),
                        StatusBoard(), Metrics())
    children = Children(ctx)
    release, stopped = threading.Event(), threading.Event()
    children.add("slow", lambda: _SlowToStop.start(release, stopped))
    children.stop("slow")
    assert not stopped.is_set()  # asked, not yet stopped: stop() does not wait
    me = threading.get_ident()
    releaser = threading.Thread(target=lambda: (
        wait_until(lambda: _waiting_in_join(me), timeout=10, message="join entered"),
        release.set()))
    releaser.start()
    try:
        children.join(10)
        assert stopped.is_set()
    finally:
        release.set()
        releaser.join(10)


def _waiting_in_join(thread: int) -> bool:
    frame = sys._current_frames().get(thread)
    while frame is not None:
        if frame.f_code.co_name == "join" and frame.f_code.co_filename.endswith("children.py"):
            return True
        frame = frame.f_back
    return False
