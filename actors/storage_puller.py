"""StoragePullerActor, one per storage: hands each run a complete, unchanging checkout of a commit.

A pull (fetch + export into `snapshots/<sha>/`, renamed into place when whole) runs in the
actor's worker thread; the actor only decides. Runs get snapshots, never the repository, so a
pull cannot change files under a running run; each run's snapshot is held (on disk) until it is
released, and unheld snapshots other than the newest are deleted.

Failure policy: a failed pull never kills the actor. The puller retries with capped exponential
backoff. A run asking for code meanwhile gets the last good snapshot of this storage if one exists
(logged as a warning: the code is older than the interval) — a remote outage then delays nobody —
and otherwise CheckoutFailed("code pull failed: …").
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

import pykka
from tenacity import RetryCallState, wait_exponential

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

logger = logging.getLogger("supervisor.storage")

FAILED = "code pull failed"
BACKOFF_CAP = 300.0
"""Most s between retries of a failing pull (less when the pull interval is shorter)."""
JITTER = 0.1
"""Up to this fraction of the pull interval is added to each periodic pull."""
STOP_WAIT = 5.0


@dataclass(frozen=True)
class _PullNow:
    """Start a pull (the first one, sent by started() so a slow remote never delays the start)."""


@dataclass(frozen=True)
class _PullDone:
    pulled: Pulled | None
    error: str | None


def backoff(failures: int, interval: float) -> float:
    """Delay before retry number `failures`: 1, 2, 4 … s, capped at min(interval, 300 s)."""
    cap = min(max(interval, 1.0), BACKOFF_CAP)
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]  # only the count is read
    state.attempt_number = failures
    return float(wait_exponential(multiplier=1, min=min(1.0, cap), max=cap)(state))


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
        self._puller = GitPuller(storage, self.layout) if storage.url else None
        self._executor: ThreadPoolExecutor | None = None
        self._future: Future[None] | None = None
        self._waiting: list[PrepareCheckout] = []
        self._holds: dict[uuid.UUID, str] = {}
        self._current: str | None = None
        self._pulled_at: float | None = None  # monotonic s of the last good pull
        self._last_pull: datetime | None = None
        self._next_pull: datetime | None = None
        self._failures = 0
        self._last_error: str | None = None
        self._hold_name = f"puller-{os.getpid()}-{id(ctx.board):x}"

    # lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        if self._puller is not None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=self.name)
            try:
                self.layout.ensure()
                self._current = self.layout.read_current()  # a previous incarnation's, if any
            except OSError as exc:
                self._last_error = os_reason(exc)
            self.actor_ref.tell(_PullNow())
        self._publish()

    def stopping(self) -> None:
        self._shutdown()
        if self._puller is not None:  # a normal stop: our newest snapshot is no longer ours
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

    def _shutdown(self) -> None:
        """Kill a running git, drop queued work; runs still waiting are told (never left hanging).
        Holds stay on disk: runs still executing keep their snapshots across a restart."""
        if self._puller is not None:
            self._puller.cancel()
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            if self._future is not None:
                # Cancelled, failed or done: either way it is over (git was killed above).
                with contextlib.suppress(Exception):
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
        elif self._fresh():
            self._hand_out(request)
        elif self._failures and self._usable():
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
        sha = self._holds.pop(run_id, None)
        try:
            self.layout.release(f"run-{run_id}")
        except OSError as exc:
            logger.warning("%s: releasing run %s: %s", self.name, run_id, os_reason(exc))
        if self._puller is not None and sha != self._current and sha not in self._holds.values():
            self._collect()
        self._publish()

    # pulling --------------------------------------------------------------------------------------

    def _start_pull(self) -> None:
        if self._puller is None or self._future is not None or self._executor is None:
            return
        if self.storage.commit and self._usable():
            self._answer_waiting()  # a pinned commit never changes: nothing to pull
            return
        puller, ref = self._puller, self.actor_ref

        def work() -> None:
            try:
                outcome = _PullDone(puller.pull(), None)
            except StorageError as exc:
                outcome = _PullDone(None, str(exc))
            except Exception as exc:  # a bug: still an answer, so runs are not left waiting
                logger.exception("%s: pull failed unexpectedly", self.name)
                outcome = _PullDone(None, f"internal error: {type(exc).__name__}")
            with contextlib.suppress(pykka.ActorDeadError):
                ref.tell(outcome)

        self._future = self._executor.submit(work)
        self._publish()

    def _pull_done(self, done: _PullDone) -> None:
        self._future = None
        if done.pulled is not None:
            self._succeeded(done.pulled)
        else:
            self._failed(done.error or "unknown error")
        self._publish()  # before the answers: whoever hears one sees the new state
        if self._waiting:
            self._answer_waiting()
            self._publish()

    def _succeeded(self, pulled: Pulled) -> None:
        previous, self._current = self._current, pulled.sha
        self._pulled_at = self.ctx.clock.monotonic()
        self._last_pull = self.ctx.clock.now()
        self._failures, self._last_error = 0, None
        if pulled.sha != previous:
            logger.info("%s: %s at commit %s", self.name, describe(self.storage), pulled.sha[:12])
        try:
            self.layout.write_current(pulled.sha)
            self.layout.hold(self._hold_name, pulled.sha)
        except OSError as exc:
            logger.warning("%s: %s", self.name, os_reason(exc))
        self._collect()
        if self.storage.commit:
            self.cancel_timer()
            self._next_pull = None
        else:
            interval = self.storage.pull_interval
            self._arm(interval + random.uniform(0, JITTER * interval))

    def _failed(self, error: str) -> None:
        self._failures += 1
        self._last_error = error
        delay = backoff(self._failures, self.storage.pull_interval)
        self._arm(delay)
        logger.warning(
            "%s: %s: %s (attempt %d; retrying in %.0fs)",
            self.name,
            FAILED,
            error,
            self._failures,
            delay,
        )

    def _arm(self, delay: float) -> None:
        self.arm_tick(delay)
        self._next_pull = self.ctx.clock.now() + timedelta(seconds=delay)

    def _answer_waiting(self) -> None:
        waiting, self._waiting = self._waiting, []
        for request in waiting:
            if self._fresh():
                self._hand_out(request)
            elif self._usable():
                self._hand_out(request, stale=True)
            else:
                message = f"{FAILED}: {self._last_error or 'no snapshot available'}"
                self._reply(request, CheckoutFailed(request.run_id, message))

    # snapshots ------------------------------------------------------------------------------------

    def _usable(self) -> bool:
        return self._current is not None and self.layout.has_snapshot(self._current)

    def _fresh(self) -> bool:
        if not self._usable():
            return False
        if self.storage.commit:
            return True
        age = None if self._pulled_at is None else self.ctx.clock.monotonic() - self._pulled_at
        return age is not None and age < self.storage.pull_interval

    def _hand_out(self, request: PrepareCheckout, stale: bool = False) -> None:
        sha = self._current
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
                self.name,
                request.run_id,
                sha[:12],
                self._last_pull or "by an earlier start",
                FAILED,
                self._last_error,
            )
        self._holds[request.run_id] = sha
        path = str(self.layout.snapshot(sha))
        if not self._reply(request, CheckoutReady(request.run_id, path, sha)):
            self._release(request.run_id)

    def _collect(self) -> None:
        """Delete snapshots nobody holds, except the newest; the slow part runs off the actor."""
        keep = {self._current} if self._current else set()
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
        snapshots = 0
        if self._puller is not None:
            with contextlib.suppress(OSError):
                snapshots = sum(1 for _ in self.layout.snapshots.iterdir())
        self.ctx.board.own(
            self.name,
            storage=describe(self.storage),
            commit=self._current,
            last_pull=self._last_pull,
            last_error=self._last_error,
            next_pull=self._next_pull,
            pulling=self._future is not None,
            failures=self._failures,
            snapshots=snapshots,
            runs_holding=len(self._holds),
        )
