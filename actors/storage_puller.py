"""StoragePullerActor, one per storage: hands each run a complete, unchanging checkout of a commit.

A pull (fetch, export into `snapshots/<sha>/`, rename into place when whole) runs in the actor's
worker thread; the actor only decides. Runs get snapshots, never the repository, so a pull cannot
change files under a running run; each run's snapshot is held (on disk) until released, and
unheld snapshots other than the newest are deleted.

Failure policy: a failed pull never kills the actor; it retries with capped exponential backoff.
A run asking for code meanwhile gets the last good snapshot of this storage if there is one
(logged as a warning: its code may be older than the interval), so an outage of the remote delays
no run; without one it gets CheckoutFailed("code pull failed: …").
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import pykka

from actors.base import SupervisedActor, SystemContext
from actors.messages import (
    CheckoutFailed,
    CheckoutReady,
    PollNow,
    PrepareCheckout,
    ReleaseCheckout,
    Tick,
)
from supervisor.errors import StorageError
from supervisor.settings import StorageSettings
from supervisor.storage import GitPuller, Layout, Pulled, describe, local_checkout, storage_key
from supervisor.storage.git import os_reason
from supervisor.storage.record import PullRecord

logger = logging.getLogger("supervisor.storage")

FAILED = "code pull failed"
STOP_WAIT = 5.0
"""s stop() waits for the worker after killing its git."""


@dataclass(frozen=True)
class _PullNow:
    """The first pull, sent by started() so a slow remote never delays the supervisor's start."""


@dataclass(frozen=True)
class _PullDone:
    pulled: Pulled | None
    error: str | None


class StoragePullerActor(SupervisedActor):
    kind = "storage"

    def __init__(
        self,
        name: str,
        ctx: SystemContext,
        parent: pykka.ActorRef[Any] | None,
        storage: StorageSettings,
    ) -> None:
        super().__init__(name, ctx, parent)
        self.storage = storage
        self.layout = Layout(ctx.settings.supervisor.work_dir / storage_key(storage))
        self.record = PullRecord(storage.pull_interval, pinned=storage.commit is not None)
        self._puller = GitPuller(storage, self.layout) if storage.url else None
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future[None] | None = None
        self._waiting: list[PrepareCheckout] = []
        self._holds: dict[uuid.UUID, str] = {}
        self._hold_name = f"puller-{os.getpid()}-{id(ctx.board):x}"

    # lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        if self._puller is not None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
            try:
                self.layout.ensure()
                self.record.current = self.layout.read_current()  # an earlier incarnation's
            except OSError as exc:
                self.record.last_error = os_reason(exc)
            self.actor_ref.tell(_PullNow())
        self._publish()

    def stopping(self) -> None:
        self._shutdown()
        if self._puller is not None:  # a normal stop: the newest snapshot is no longer ours
            with contextlib.suppress(OSError):
                self.layout.release(self._hold_name)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        super().on_failure(exception_type, exception_value, traceback)
        self._shutdown()

    def handed_back(self) -> tuple[Any, ...]:
        """Died of a bug: the runs waiting for a pull and the requests still in the inbox go to
        the restarted puller (else those runs would wait in PREPARING for ever)."""
        waiting, self._waiting = self._waiting, []
        return (*waiting, *self.inbox_of((PrepareCheckout, ReleaseCheckout)))

    def _shutdown(self) -> None:
        """Kill a running git and answer waiting runs (never leave one hanging). Run holds stay
        on disk: runs still executing keep their snapshots across a restart of this actor."""
        if self._puller is not None:
            self._puller.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            if self._future is not None:
                with contextlib.suppress(Exception):  # cancelled, failed or done: it is over
                    self._future.result(timeout=STOP_WAIT)
        waiting, self._waiting = self._waiting, []
        for request in waiting:
            self._reply(request, CheckoutFailed(request.run_id, f"{FAILED}: the puller stopped"))

    # messages -------------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> None:
        match message:
            case PrepareCheckout():
                self._prepare(message)
            case ReleaseCheckout(run_id=run_id):
                self._release(run_id)
            case Tick():
                self.ticked()
                self._start_pull()
            case PollNow() | _PullNow():
                self._start_pull()
            case _PullDone():
                self._pull_done(message)

    def _prepare(self, request: PrepareCheckout) -> None:
        if self._puller is None:
            self._local(request)
        elif self._future is not None:
            self._waiting.append(request)  # answered when the pull in progress ends
        elif self._usable() and self.record.is_recent(self.ctx.clock.monotonic()):
            self._hand_out(request)
        elif self._usable() and self.record.failures:
            self._hand_out(request, stale=True)  # backing off: the remote is failing
        else:
            self._waiting.append(request)
            self._start_pull()

    def _local(self, request: PrepareCheckout) -> None:
        assert self.storage.path is not None
        try:
            path, commit = local_checkout(self.storage.path)
        except StorageError as exc:
            self._reply(request, CheckoutFailed(request.run_id, f"code not available: {exc}"))
            return
        self._reply(request, CheckoutReady(request.run_id, path, commit))

    def _release(self, run_id: uuid.UUID) -> None:
        # A run that ended before its checkout was ready (cancelled) wants no answer any more.
        self._waiting = [r for r in self._waiting if r.run_id != run_id]
        sha = self._holds.pop(run_id, None)
        try:
            self.layout.release(f"run-{run_id}")
        except OSError as exc:
            logger.warning("%s: releasing run %s: %s", self.name, run_id, os_reason(exc))
        still_used = sha == self.record.current or sha in self._holds.values()
        if self._puller is not None and not still_used:
            self._collect()
        self._publish()

    # pulling --------------------------------------------------------------------------------------

    def _start_pull(self) -> None:
        if self._puller is None or self._future is not None or self._executor is None:
            return
        if self.record.pinned and self._usable():
            self._answer_waiting()  # a pinned commit never changes: nothing to pull
            return
        puller, ref = self._puller, self.actor_ref

        def work() -> None:
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(_PullDone(*puller.try_pull()))

        self._future = self._executor.submit(work)
        self._publish()

    def _pull_done(self, done: _PullDone) -> None:
        self._future = None
        clock = self.ctx.clock
        if done.pulled is not None:
            sha, previous = done.pulled.sha, self.record.current
            delay = self.record.succeeded(sha, clock.monotonic(), clock.now())
            if sha != previous:
                logger.info("%s: %s at commit %s", self.name, describe(self.storage), sha[:12])
            try:
                self.layout.write_current(sha)
                self.layout.hold(self._hold_name, sha)
            except OSError as exc:
                logger.warning("%s: %s", self.name, os_reason(exc))
            self._collect()
        else:
            delay = self.record.failed(done.error or "unknown error", clock.now())
            logger.warning(
                "%s: %s: %s (attempt %d; retrying in %.0fs)",
                self.name, FAILED, self.record.last_error, self.record.failures, delay,
            )  # fmt: skip
        if delay is None:
            self.cancel_timer()
        else:
            self.arm_tick(delay)
        self._publish()  # before the answers: whoever hears one sees the new state
        if self._waiting:
            self._answer_waiting()
            self._publish()

    def _answer_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for request in waiting:
            if self._usable():
                self._hand_out(request, stale=self.record.failures > 0)
            else:
                reason = self.record.last_error or "no snapshot available"
                self._reply(request, CheckoutFailed(request.run_id, f"{FAILED}: {reason}"))

    # snapshots ------------------------------------------------------------------------------------

    def _usable(self) -> bool:
        return self.record.current is not None and self.layout.has_snapshot(self.record.current)

    def _hand_out(self, request: PrepareCheckout, stale: bool = False) -> None:
        sha = self.record.current
        assert sha is not None
        try:
            held = self.layout.hold(f"run-{request.run_id}", sha)
        except OSError as exc:
            self._reply(request, CheckoutFailed(request.run_id, f"{FAILED}: {os_reason(exc)}"))
            return
        if not held:
            message = f"{FAILED}: snapshot {sha[:12]} vanished; the next pull makes it again"
            self._reply(request, CheckoutFailed(request.run_id, message))
            return
        if stale:
            logger.warning(
                "%s: run %s uses the last good commit %s (pulled %s): %s: %s",
                self.name, request.run_id, sha[:12], self.record.last_pull or "before a restart",
                FAILED, self.record.last_error,
            )  # fmt: skip
        self._holds[request.run_id] = sha
        path = str(self.layout.snapshot(sha))
        if not self._reply(request, CheckoutReady(request.run_id, path, sha)):
            self._release(request.run_id)

    def _collect(self) -> None:
        """Delete snapshots nobody holds, except the newest; the slow part runs off the actor."""
        keep = {self.record.current} if self.record.current else set()
        try:
            removed = self.layout.collect(keep)
        except OSError as exc:
            logger.warning("%s: cleaning snapshots: %s", self.name, os_reason(exc))
            return
        if removed and self._executor is not None:
            logger.info("%s: removed snapshots %s", self.name, ", ".join(s[:12] for s in removed))
            with contextlib.suppress(RuntimeError):  # RuntimeError: shutting down
                self._executor.submit(self.layout.empty_trash)

    # helpers --------------------------------------------------------------------------------------

    def _reply(self, request: PrepareCheckout, answer: CheckoutReady | CheckoutFailed) -> bool:
        try:
            request.reply_to.tell(answer)
        except pykka.ActorDeadError:
            return False
        return True

    def _publish(self) -> None:
        self.ctx.board.own(
            self.name,
            storage=describe(self.storage),
            **self.record.board(),
            pulling=self._future is not None,
            snapshots=self.layout.count() if self._puller is not None else 0,
            runs_holding=len(self._holds),
        )
