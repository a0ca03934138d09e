"""SupervisorActor, the root: owns the children, the run table and the concurrency slots.

A slot is held from the moment a run actor is started (it claims at once) until the run's tree is
reaped — `RunFinished`, or the tree's exit after its actor died — so no error path can leak one.
Children are restarted one-for-one, at most `max_restarts` in `restart_window` s; past that the
system stops with a clear error and a non-zero exit code. Start in order, stop in reverse.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pykka

from actors.base import (
    CANCELLATION_POLLER,
    ROOT_NAME,
    SCHEDULE_POLLER,
    STATE_REPORTER,
    SupervisedActor,
    SystemContext,
)
from actors.cancellation_poller import CancellationPollerActor
from actors.children import Children
from actors.messages import (
    CancelRequested,
    CancelRun,
    ChildFailed,
    Drain,
    Drained,
    Forward,
    InFlightChanged,
    PollNow,
    ProcessExited,
    ProcessStarted,
    ReportState,
    RunDue,
    RunFinished,
    Shutdown,
)
from actors.run_actor import RunActor
from actors.run_table import RunEntry, RunTable
from actors.schedule_poller import PassDone, SchedulePollerActor, WantMore
from actors.state_reporter import StateReporterActor
from actors.storage_puller import StoragePullerActor
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable
from supervisor.models import Run, State, StateType
from supervisor.policies import concurrency, hooks, retry
from supervisor.process import ExitReason
from supervisor.recovery import resolve_orphans
from supervisor.runkind import pool_deployment
from supervisor.settings import DeploymentSettings
from supervisor.storage import shared_storages, storage_key

logger = logging.getLogger("supervisor")


MORE_EVERY = 0.02
"""s between the root's own "poll now" requests while a burst drains."""


@dataclass(frozen=True)
class _DrainOver:
    """The drain time of a shutdown is up: cancel what still runs."""


@dataclass(frozen=True)
class _InFlightFlush:
    """Tell the cancellation poller (and the board) the runs in flight, once per burst."""


@dataclass(frozen=True)
class _Recover:
    """Look for orphaned runs again (the control plane was unavailable)."""


@dataclass(frozen=True)
class _Recovered:
    """The recovery step's answer: each orphaned run with the state it ends in."""

    resolved: tuple[tuple[Run, State], ...]


@dataclass(frozen=True)
class _RecoveryFailed:
    """The recovery step met an error: `retry` when the control plane was unavailable."""

    error: str
    retry: bool


class SupervisorActor(SupervisedActor):
    kind = "supervisor"

    def __init__(
        self,
        ctx: SystemContext,
        on_stopped: Callable[[int, str | None], None],
        once: bool = False,
        execute: uuid.UUID | None = None,
        recover: bool = True,
    ) -> None:
        super().__init__(ROOT_NAME, ctx, None)
        self._recovers = recover  # False: a live peer of our name holds the lease
        self._on_stopped = on_stopped
        self._once = once
        self._execute = execute
        sup = ctx.settings.supervisor
        self._children = Children(sup.max_restarts, sup.restart_window)
        self._asked_at = float("-inf")
        self._runs = RunTable(sup.limit)
        self._stopping = False
        self._pass_done = False
        self._exit_code = 0
        self._error: str | None = None
        self._in_flight_dirty = False
        ctx.metrics.track_slots(lambda: len(self._runs), lambda: self._runs.free)
        gauge = ctx.metrics.deployment_in_flight
        self._slots = concurrency.DeploymentSlots(
            ctx.settings, lambda name, count: gauge.labels(name).set(count))

    # start ----------------------------------------------------------------------------------------

    def started(self) -> None:
        deployments = self.ctx.settings.deployments
        self._start_child(STATE_REPORTER, StateReporterActor)
        for key, storage in shared_storages(deployments).items():
            self._start_child(key, StoragePullerActor, storage)
        if self._recovers:
            self._recover()  # the pollers start once it has answered
        else:
            self._start_polling()
        self._publish()

    def _start_polling(self) -> None:
        if self._execute is None:
            names = tuple(d.name for d in self.ctx.settings.deployments)
            self._start_child(SCHEDULE_POLLER, SchedulePollerActor, names, self._once)
        self._start_child(CANCELLATION_POLLER, CancellationPollerActor)
        if self._execute is not None:
            self._start_execute(self._execute)
        self._publish()

    def _start_child(self, name: str, actor: type[SupervisedActor], *args: Any) -> None:
        """Start a child; the same call restarts it after a death."""
        start = functools.partial(actor.start, name, self.ctx, self.actor_ref, *args)
        self._children.add(name, start)

    def _recover(self) -> None:
        """Runs a previous incarnation of this supervisor left in flight: end their leftover
        processes and close them out, on a thread of its own (a sweep can take a kill grace
        and more: the root keeps hearing Shutdown and ChildFailed meanwhile), then answer with
        a message. Polling starts after it, so a run this incarnation claims is never taken
        for an orphan."""
        sup, plane, root = self.ctx.settings.supervisor, self.ctx.control_plane, self.actor_ref

        def recover() -> None:
            answer: _Recovered | _RecoveryFailed
            try:
                answer = _Recovered(tuple(resolve_orphans(plane, sup.name, sup.kill_grace)))
            except ControlPlaneUnavailable as exc:
                answer = _RecoveryFailed(str(exc), retry=True)
            except Exception as exc:  # a bug: the root fails the system, it must not hang
                logger.exception("looking for orphaned runs failed")
                answer = _RecoveryFailed(f"{type(exc).__name__}: {exc}", retry=False)
            with contextlib.suppress(pykka.ActorDeadError):
                root.tell(answer)

        threading.Thread(target=recover, name="recovery", daemon=True).start()

    def _recovered(self, message: _Recovered | _RecoveryFailed) -> None:
        if self._stopping:
            return
        if isinstance(message, _RecoveryFailed):
            if not message.retry:
                self._fail(f"recovering orphaned runs: {message.error}")
                return
            logger.warning("could not look for orphaned runs yet (%s); retrying", message.error)
            delay = max(1.0, self.ctx.settings.supervisor.poll_interval)
            self.tell_later(delay, _Recover())
            return
        self._close_out(message.resolved)
        self._start_polling()

    def _close_out(self, resolved: tuple[tuple[Run, State], ...]) -> None:
        for run, ended in resolved:  # CRASHED, or its retry (supervisor/policies/retry.py)
            deployment = self.ctx.settings.deployment(run.deployment)
            state, due = retry.after_restart(deployment, run, ended, self.ctx.clock.now())
            self._children.tell(STATE_REPORTER, ReportState(
                run.id, state, retry.recovery_key(run), scheduled_time=due))
            if deployment is not None and hooks.hook_for(deployment, state) is not None:
                self._launch(run, recovered=state)  # its on_failure hook, supervised

    def sibling(self, name: str) -> pykka.ActorRef[Any] | None:
        """A child's current ref, for run actors (called from their threads)."""
        return self._children.ref(name)

    def _start_execute(self, run_id: uuid.UUID) -> None:
        try:
            run = self.ctx.control_plane.read_run(run_id)
        except ControlPlaneError as exc:
            self._fail(f"execute: {exc}")
            return
        if run.state.type is not StateType.SCHEDULED:
            self._fail(f"execute: run {run_id} is {run.state.type.value}, not SCHEDULED")
            return
        if self._deployment_of(run.deployment) is None:
            self._fail(f"execute: deployment {run.deployment!r} is not in the settings file")
            return
        self._pass_done = True
        self._launch(run)

    # messages -------------------------------------------------------------------------------------

    def on_receive(self, message: Any) -> None:
        match message:
            case RunDue(run=run):
                self._due(run)
            case ProcessStarted(run_id=run_id, process=process) if entry := self._runs.get(run_id):
                entry.process = process
            case RunFinished(run_id=run_id, state=state):
                self._finished(run_id, state)
            case ProcessExited(run_id=run_id, result=result) if entry := self._runs.get(run_id):
                # its actor died; the tree is reaped now
                text = f"run actor failed ({entry.actor_error}); {result.message}"
                self._report_orphan(run_id, State.of(StateType.CRASHED, text), result.returncode)
            case Forward(to=to, message=forwarded):
                self._children.tell(to, forwarded)
            case CancelRequested(run_id=run_id, by=by):
                self._cancel(run_id, by)
            case ChildFailed():
                self._child_failed(message)
            case PassDone():
                self._pass_done = True
                self._maybe_done_once()
            case _InFlightFlush():
                self._flush_in_flight()
            case PollNow():
                self._flush_in_flight()  # the cancellation poller reads the runs in flight now
                for name in (SCHEDULE_POLLER, CANCELLATION_POLLER):
                    if name in self._children:
                        self._children.tell(name, PollNow())
            case Shutdown(drain=drain, immediate=immediate):
                self._shutdown(drain, immediate)
            case _DrainOver():
                self._cancel_all(immediate=False)
            case _Recover() if not self._stopping:
                self._recover()
            case _Recovered() | _RecoveryFailed():
                self._recovered(message)
            case Drained(undelivered=undelivered):
                if undelivered:
                    self._error = self._error or f"{undelivered} state reports were not delivered"
                self._stopped()

    # runs -----------------------------------------------------------------------------------------

    def _due(self, run: Run) -> None:
        if self._stopping or self._runs.knows(run.id) or self._runs.ended(run):
            return
        if self._runs.free > 0 and self._may_start(run):
            self._launch(run)
        else:
            self._runs.wait(run)
            self._publish()

    def _deployment_of(self, name: str) -> DeploymentSettings | None:
        """Ours by the settings; in worker mode, any run of the pool is ours too."""
        found = self.ctx.settings.deployment(name)
        if found is None and self.ctx.settings.control_plane.work_pool is not None:
            return pool_deployment(name)
        return found

    def _may_start(self, run: Run) -> bool:
        """Within its deployment's concurrency, or refused at once (collision = cancel-new)."""
        return not self._slots.full(run.deployment) or self._refusal(run) is not None

    def _refusal(self, run: Run) -> str | None:
        deployment = self.ctx.settings.deployment(run.deployment)
        if deployment is None or not self._slots.full(run.deployment):
            return None
        return concurrency.refusal(deployment, self._slots.in_flight(deployment.name))

    def _launch(self, run: Run, recovered: State | None = None) -> None:
        deployment = self._deployment_of(run.deployment)
        if deployment is None:  # registered by another config; not ours to run
            return
        puller = storage_key(deployment.storage) if deployment.storage is not None else None
        if recovered is not None:  # nothing to pull or refuse: only its hook runs
            puller = None
        refusal = None if recovered is not None else self._refusal(run)
        ref = RunActor.start(
            self.ctx, self.actor_ref, run, deployment, self.sibling, puller, refusal, recovered)
        self._runs.admit(run.id, RunEntry(ref, deployment.name, run.scheduled_time))
        if refusal is None:
            self._slots.take(run.id, deployment.name)
        self._in_flight_changed()

    def _finished(self, run_id: uuid.UUID, state: State | None) -> None:
        if self._runs.release(run_id, ran=state is not None) is None:
            return
        self._slots.give(run_id)
        if self._execute == run_id:
            self._exit_code = 0 if state is not None and state.type is StateType.COMPLETED else 1
        while not self._stopping and (run := self._runs.next_waiting(self._may_start)) is not None:
            self._launch(run)
        if not self._runs.waiting and self._runs.free > 0:
            self._ask_for_more()
        self._in_flight_changed()
        if self._stopping and not self._runs:
            self._stop_children()
        else:
            self._maybe_done_once()

    def _ask_for_more(self) -> None:
        """Slots are free and nothing waits: more may be due, so poll now rather than at the
        next tick — at most once per MORE_EVERY s, as a burst frees slots by the hundred."""
        now = self.ctx.clock.monotonic()
        if SCHEDULE_POLLER in self._children and now - self._asked_at >= MORE_EVERY:
            self._asked_at = now
            self._children.tell(SCHEDULE_POLLER, WantMore())

    def _cancel(self, run_id: uuid.UUID, by: str) -> None:
        entry = self._runs.get(run_id)
        if entry is not None and entry.actor_error is None:
            _tell_run(entry, CancelRun(by))

    def _report_orphan(self, run_id: uuid.UUID, state: State, exit_code: int | None) -> None:
        self._children.tell(
            STATE_REPORTER, ReportState(run_id, state, f"{run_id}:terminal", exit_code=exit_code)
        )
        self.ctx.metrics.runs_finished.labels(state.type.value).inc()
        self.ctx.board.remove(f"run-{run_id}")
        self._finished(run_id, state)

    def _in_flight_changed(self) -> None:
        """Coalesced: 5,000 launches in a row sent 5,000 sets of up to 5,000 ids (O(n^2)); now
        one set once the messages already queued are handled (or before a PollNow)."""
        if not self._in_flight_dirty:
            self._in_flight_dirty = True
            self.actor_ref.tell(_InFlightFlush())

    def _flush_in_flight(self) -> None:
        if not self._in_flight_dirty:
            return
        self._in_flight_dirty = False
        if CANCELLATION_POLLER in self._children:
            self._children.tell(CANCELLATION_POLLER, InFlightChanged(self._runs.ids()))
        self._publish()

    def _publish(self) -> None:
        runs = self._runs
        self.ctx.board.own(self.name, limit=runs.limit, in_flight=len(runs), waiting=runs.waiting)

    # failures -------------------------------------------------------------------------------------

    def _child_failed(self, failure: ChildFailed) -> None:
        logger.error("actor %s died in %s: %s", failure.name, failure.during, failure.error)
        if failure.name.startswith("run-"):
            self._run_actor_failed(uuid.UUID(failure.name.removeprefix("run-")), failure.error)
            return
        if failure.name not in self._children or self._stopping:
            return
        refused = self._children.restart(failure.name, self.ctx.clock.monotonic())
        if refused is not None:
            self._children.stop(failure.name)  # dead for good: shutdown must not wait on it
            self._fail(f"{refused}; last error: {failure.error}")
            return
        entry = self.ctx.board.get(failure.name) or {}
        self.ctx.board.update(
            failure.name, restarts=entry.get("restarts", 0) + 1, last_error=failure.error
        )
        self.ctx.metrics.actor_restarts.labels(failure.name).inc()
        if failure.name == CANCELLATION_POLLER:
            self._in_flight_changed()

    def _run_actor_failed(self, run_id: uuid.UUID, error: str) -> None:
        entry = self._runs.get(run_id)
        if entry is None:
            return
        entry.actor_error = error
        process = entry.process
        if process is None:
            self._report_orphan(
                run_id, State.of(StateType.CRASHED, f"run actor failed: {error}"), None
            )
        elif process.result is not None:  # it ended before its actor heard of it
            self.actor_ref.tell(ProcessExited(run_id, process.result))
        else:  # end the tree; its exit comes back to us as ProcessExited
            deployment = self._deployment_of(entry.deployment)
            assert deployment is not None  # only runs of our own deployments are launched
            process.terminate(self.ctx.settings.kill_grace_for(deployment), ExitReason.CANCELLED)

    def _fail(self, error: str) -> None:
        logger.error("supervisor stopping: %s", error)
        self._error = error
        self._exit_code = 1
        self.ctx.board.update(self.name, last_error=error)
        self._shutdown(0.0, immediate=False)

    # shutdown -------------------------------------------------------------------------------------

    def _maybe_done_once(self) -> None:
        if self._pass_done and not self._runs and not self._runs.waiting and not self._stopping:
            self._shutdown(0.0, immediate=False)

    def _shutdown(self, drain: float, immediate: bool) -> None:
        first = not self._stopping
        self._stopping = True
        self._runs.clear_waiting()
        if first:
            self._children.stop(SCHEDULE_POLLER)
            if self.ctx.settings.supervisor.pause_on_shutdown:
                self._pause_deployments()
        if not self._runs:
            self._stop_children()
        elif drain > 0 and not immediate:
            logger.info("draining %d runs for up to %gs", len(self._runs), drain)
            self.tell_later(drain, _DrainOver())
        else:
            self._cancel_all(immediate)

    def _cancel_all(self, immediate: bool) -> None:
        for run_id, entry in self._runs:
            grace = 0.0 if immediate else None
            if entry.actor_error is None:
                _tell_run(entry, CancelRun("supervisor shutting down", shutdown=True, grace=grace))
            elif entry.process is not None:
                entry.process.terminate(grace or 0.0, ExitReason.SHUTDOWN)
            logger.debug("cancelling %s for shutdown", run_id)

    def _pause_deployments(self) -> None:
        for deployment in self.ctx.settings.deployments:
            try:
                self.ctx.control_plane.set_paused(deployment.name, True)
            except ControlPlaneError as exc:
                logger.warning("could not pause %s: %s", deployment.name, exc)

    def _stop_children(self) -> None:
        """Reverse start order; the reporter last, after it has sent what it holds."""
        self._children.stop_all(but=STATE_REPORTER)
        if STATE_REPORTER in self._children:
            self._children.tell(STATE_REPORTER, Drain(self.actor_ref))  # answered with Drained
        else:
            self._stopped()

    def _stopped(self) -> None:
        self._children.stop(STATE_REPORTER)
        self._on_stopped(self._exit_code, self._error)
        self.stop()

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """The root itself died (a bug): end every tree at once, stop, and say so."""
        super().on_failure(exception_type, exception_value, traceback)
        for _, entry in self._runs:
            if entry.process is not None:
                entry.process.terminate(0.0, ExitReason.SHUTDOWN)
        self._children.stop_all()
        self._on_stopped(1, f"the supervisor actor failed: {exception_value!r}")


def _tell_run(entry: RunEntry, message: CancelRun) -> None:
    """A run actor stops right after telling us RunFinished, so it may be gone while that
    message still waits behind this one: then there is nothing left to cancel."""
    with contextlib.suppress(pykka.ActorDeadError):
        entry.ref.tell(message)
