"""A storage puller on a fake clock, with an inbox actor standing in for run actors."""

from __future__ import annotations

import queue
import uuid
from pathlib import Path
from typing import Any

import pykka

from actors.base import SystemContext
from actors.board import StatusBoard
from actors.messages import CheckoutFailed, CheckoutReady, PrepareCheckout, ReleaseCheckout
from actors.storage_puller import StoragePullerActor
from supervisor.clock import FakeClock
from supervisor.controlplane.memory import MemoryControlPlane
from supervisor.metrics import Metrics
from supervisor.settings import StorageSettings, parse_settings
from supervisor.storage import storage_key
from supervisor.timers import ManualScheduler, ThreadScheduler
from tests.waiting import wait_until


class Inbox(pykka.ThreadingActor):
    def __init__(self, box: queue.Queue[Any]) -> None:
        super().__init__()
        self.box = box

    def on_receive(self, message: Any) -> None:
        self.box.put(message)


class Rig:
    def __init__(self, tmp: Path, real_time: bool = False) -> None:
        settings = parse_settings(
            {"supervisor": {"work_dir": str(tmp / "work")}, "ops": {"enabled": False}},
            tmp / "supervisor.toml",
            env={},
        )
        self.clock = FakeClock()
        self.scheduler: Any = ThreadScheduler() if real_time else ManualScheduler(self.clock)
        self.board = StatusBoard()
        self.ctx = SystemContext(
            settings, MemoryControlPlane(self.clock), self.scheduler, self.board, Metrics()
        )
        self.work_dir = settings.supervisor.work_dir
        self.box: queue.Queue[Any] = queue.Queue()
        self.inbox = Inbox.start(self.box)
        self.refs: list[pykka.ActorRef[Any]] = [self.inbox]

    def start(self, **storage: Any) -> tuple[str, pykka.ActorRef[Any]]:
        settings = StorageSettings(**storage)
        name = storage_key(settings)
        ref = StoragePullerActor.start(name, self.ctx, None, settings)
        self.refs.append(ref)
        return name, ref

    def owns(self, name: str) -> dict[str, Any]:
        entry = self.board.get(name)
        return dict(entry["owns"]) if entry else {}

    def wait_pulled(self, name: str, sha: str) -> None:
        wait_until(
            lambda: self.owns(name).get("commit") == sha and not self.owns(name)["pulling"],
            10,
            message=f"{name} at {sha}",
        )

    def prepare(self, ref: pykka.ActorRef[Any], run_id: uuid.UUID | None = None) -> Any:
        run_id = run_id or uuid.uuid4()
        ref.tell(PrepareCheckout(run_id, self.inbox))
        return self.reply()

    def reply(self) -> CheckoutReady | CheckoutFailed:
        return self.box.get(timeout=10)

    def release(self, ref: pykka.ActorRef[Any], run_id: uuid.UUID) -> None:
        ref.tell(ReleaseCheckout(run_id))
        ref.ask(object(), timeout=5)  # a barrier: the release was handled

    def stop(self) -> None:
        for ref in reversed(self.refs):
            ref.stop(timeout=10)
        self.scheduler.close()
