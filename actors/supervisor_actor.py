"""SupervisorActor, the root: owns the children, the run table and the concurrency slots.

A slot is held from the moment a run actor is started (it claims at once) until the run's tree is
reaped — `RunFinished`, or the tree's exit after its actor died — so no error path can leak one.
Children are restarted one-for-one within a budget (actors/children.py); past it the system stops
with a clear error and a non-zero exit code. Runs come from a run source (actors/run_source.py),
after the recovery step (actors/recovery.py); the stop is sequenced by actors/shutdown.py.
"""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.base import (
    CANCELLATION_POLLER,
    ROOT_NAME,
    SCHEDULE_POLLER,
    STATE_REPORTER,
    SupervisedActor,
    SystemContext,
)
from actors.children import Children
from actors.identity import RunActorId
from actors.messages import (
    CancelRequested,
    CancelRun,
    ChildFailed,
    Drained,
    InFlightChanged,
    PollNow,
    ProcessExited,
    ProcessStarted,
    ReportState,
    RunDue,
    RunFinished,
    Shutdown,
)
from actors.recovery import Recover, Recovered, RecoveryFailed, recover
from actors.run_actor import RunActor
from actors.run_source import RunSource
from actors.run_table import RunEntry, RunTable
from actors.schedule_poller import PassDone, WantMore
from actors.shutdown import DrainOver, ShutdownSequence
from actors.state_reporter import StateReporterActor
from actors.storage_puller import StoragePullerActor
from supervisor.models import Run, State, StateType
from supervisor.policies import concurrency, hooks, retry
from supervisor.process import ExitReason
from supervisor.runkind import deployment_of
from supervisor.storage import shared_storages, storage_key

logger = logging.getLogger("supervisor")


CHILDREN_STOP = 5.0
"""s the root waits, once stopping, for its children to have stopped before it says so."""
MORE_EVERY = 0.02
"""s between the root's own "poll now" requests while a burst drains."""


@dataclass(frozen=True)
class _InFlightFlush:
    """Tell the cancellation poller (and the board) the runs in flight, once per burst."""


class SupervisorActor(SupervisedActor):
    kind = "supervisor"

    def __init__(
        self,
        ctx: SystemContext,
        on_stopped: Callable[[int, str | None], None],
        source: RunSource,
        recover: bool = True,
    ) -> None:
        super().__init__(ROOT_NAME, ctx, None)
        self._recovers = recover  # False: a live peer of our name holds the lease
        self._on_stopped = on_stopped
        self._source = source
        self._children = Children(ctx)
        self._asked_at = float("-inf")
        self._runs = RunTable(ctx.settings.supervisor.limit)
        self._shutdown = ShutdownSequence(ctx, self._children, self._runs, self)
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
        self.start_child(STATE_REPORTER, StateReporterActor)
        for key, storage in shared_storages(deployments).items():
            self.start_child(key, StoragePullerActor, storage)
        if self._recovers:  # the run source starts once the recovery step has answered
            recover(self.ctx.settings, self.ctx.control_plane, self.actor_ref)
        else:
            self._source.start(self)
        self._publish()

    def start_child(self, name: str, actor: type[SupervisedActor], *args: Any) -> None:
        """Start a child; the same call restarts it after a death."""
        start = functools.partial(actor.start, name, self.ctx, self.actor_ref, *args)
        self._children.add(name, start)

    def _recovered(self, message: Recovered | RecoveryFailed) -> None:
        if self._shutdown.active:
            return
        if isinstance(message, RecoveryFailed):
            if not message.retry:
                self.fail(f"recovering orphaned runs: {message.error}")
                return
            logger.warning("could not look for orphaned runs yet (%s); retrying", message.error)
            delay = max(1.0, self.ctx.settings.supervisor.poll_interval)
            self.tell_later(delay, Recover())
            return
        self._close_out(message.resolved)
        self._source.start(self)
        self._publish()

    def _close_out(self, resolved: tuple[tuple[Run, State], ...]) -> None:
        for run, ended in resolved:  # CRASHED, or its retry (supervisor/policies/retry.py)
            deployment = self.ctx.settings.deployment(run.deployment)
            state, due = retry.after_restart(deployment, run, ended, self.ctx.clock.now())
            self._children.tell(STATE_REPORTER, ReportState(
                run.id, state, retry.recovery_key(run), scheduled_time=due))
            if deployment is not None and hooks.hook_for(deployment, state) is not None:
                self.launch(run, recovered=state)  # its on_failure hook, supervised

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
            case CancelRequested(run_id=run_id, by=by):
                self._cancel(run_id, by)
            case ChildFailed():
                self._child_failed(message)
            case PassDone():
                self._source.pass_done()
                self._stop_if_spent()
            case _InFlightFlush():
                self._flush_in_flight()
            case PollNow():
                self._flush_in_flight()  # the cancellation poller reads the runs in flight now
                for name in (SCHEDULE_POLLER, CANCELLATION_POLLER):
                    if name in self._children:
                        self._children.tell(name, PollNow())
            case Shutdown(drain=drain, immediate=immediate):
                self._shutdown.begin(drain, immediate)
            case DrainOver():
                self._shutdown.cancel_runs(immediate=False)
            case Recover() if not self._shutdown.active:
                recover(self.ctx.settings, self.ctx.control_plane, self.actor_ref)
            case Recovered() | RecoveryFailed():
                self._recovered(message)
            case Drained(undelivered=undelivered):
                if undelivered:
                    self._error = self._error or f"{undelivered} state reports were not delivered"
                self._stopped()

    # runs -----------------------------------------------------------------------------------------

    def _due(self, run: Run) -> None:
        if self._shutdown.active or self._runs.knows(run.id) or self._runs.ended(run):
            return
        if self._runs.free > 0 and self._may_start(run):
            self.launch(run)
        else:
            self._runs.wait(run)
            self._publish()

    def _may_start(self, run: Run) -> bool:
        """Within its deployment's concurrency, or refused at once (collision = cancel-new)."""
        return not self._slots.full(run.deployment) or self._refusal(run) is not None

    def _refusal(self, run: Run) -> str | None:
        deployment = self.ctx.settings.deployment(run.deployment)
        if deployment is None or not self._slots.full(run.deployment):
            return None
        return concurrency.refusal(deployment, self._slots.in_flight(deployment.name))

    def launch(self, run: Run, recovered: State | None = None) -> None:
        """Start the run's actor (it claims the run at once) and give it a slot."""
        deployment = deployment_of(self.ctx.settings, run.deployment)
        if deployment is None:  # registered by another config; not ours to run
            return
        puller = storage_key(deployment.storage) if deployment.storage is not None else None
        if recovered is not None:  # nothing to pull or refuse: only its hook runs
            puller = None
        refusal = None if recovered is not None else self._refusal(run)
        ref = RunActor.start(
            self.ctx, self.actor_ref, run, deployment, puller, refusal, recovered)
        self._runs.admit(run.id, RunEntry(ref, deployment.name, run.scheduled_time))
        if refusal is None:
            self._slots.take(run.id, deployment.name)
        self._in_flight_changed()

    def _finished(self, run_id: uuid.UUID, state: State | None) -> None:
        if self._runs.release(run_id, ran=state is not None) is None:
            return
        self._slots.give(run_id)
        code = self._source.finished(run_id, state)
        if code is not None:
            self._exit_code = code
        stopping = self._shutdown.active
        while not stopping and (run := self._runs.next_waiting(self._may_start)) is not None:
            self.launch(run)
        if not self._runs.waiting and self._runs.free > 0:
            self._ask_for_more()
        self._in_flight_changed()
        if stopping and not self._runs:
            self._shutdown.runs_ended()
        else:
            self._stop_if_spent()

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
            entry.tell(CancelRun(by))

    def _report_orphan(self, run_id: uuid.UUID, state: State, exit_code: int | None) -> None:
        self._children.tell(
            STATE_REPORTER, ReportState(run_id, state, f"{run_id}:terminal", exit_code=exit_code)
        )
        self.ctx.metrics.runs_finished.labels(state.type.value).inc()
        self.ctx.board.remove(str(RunActorId(run_id)))
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
        if isinstance(failure.actor, RunActorId):
            self._run_actor_failed(failure.actor.run_id, failure.error)
            return
        if failure.name not in self._children or self._shutdown.active:
            return
        refused = self._children.restart(failure.name, failure.error, failure.handed_back)
        if refused is not None:
            self.fail(f"{refused}; last error: {failure.error}")
        elif failure.name == CANCELLATION_POLLER:
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
            deployment = deployment_of(self.ctx.settings, entry.deployment)
            assert deployment is not None  # only runs of our own deployments are launched
            process.terminate(self.ctx.settings.kill_grace_for(deployment), ExitReason.CANCELLED)

    def fail(self, error: str) -> None:
        """Stop the system with this error and exit code 1."""
        logger.error("supervisor stopping: %s", error)
        self._error = error
        self._exit_code = 1
        self.ctx.board.update(self.name, last_error=error)
        self._shutdown.begin(0.0, immediate=False)

    # stop -----------------------------------------------------------------------------------------

    def _stop_if_spent(self) -> None:
        """The run source will hand over no more runs (`--once`, execute) and none is left."""
        if (self._source.spent and not self._runs and not self._runs.waiting
                and not self._shutdown.active):
            self._shutdown.begin(0.0, immediate=False)

    def _stopped(self) -> None:
        self._children.stop(STATE_REPORTER)
        self._children.join(CHILDREN_STOP)
        self._on_stopped(self._exit_code, self._error)
        self.stop()

    def stopping(self) -> None:
        """Stopped from outside (a hard stop: `Supervisor.stop` timed out): the children go too,
        or their threads would outlive the system (and keep the interpreter from exiting).
        Trees still ending keep their deadlines (the system keeps the scheduler for them)."""
        self._children.stop_all()
        self._children.join(CHILDREN_STOP)

    def on_failure(self, exception_type: Any, exception_value: Any, traceback: Any) -> None:
        """The root itself died (a bug): end every tree at once, stop, and say so."""
        super().on_failure(exception_type, exception_value, traceback)
        for _, entry in self._runs:
            if entry.process is not None:
                entry.process.terminate(0.0, ExitReason.SHUTDOWN)
        self._children.stop_all()
        self._children.join(CHILDREN_STOP)
        self._on_stopped(1, f"the supervisor actor failed: {exception_value!r}")
