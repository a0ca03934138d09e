"""RunActor: one per run, from claim to the reaped tree and the reported terminal state.

claim (PENDING) → [code checkout] → start the tree → report RUNNING with the pid → watch for exit,
timeout or cancel → report the explained terminal state → tell the root `RunFinished` (slot freed).
The process layer's threads call back with messages; nothing here blocks on another actor.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pykka

from actors import run_spec
from actors.base import STATE_REPORTER, SupervisedActor, SystemContext
from actors.identity import RunActorId, RunPhase
from actors.messages import (
    CancelRun,
    CheckoutFailed,
    CheckoutReady,
    PrepareCheckout,
    ProcessExited,
    ProcessStarted,
    ReleaseCheckout,
    ReportState,
    RunFinished,
    StateReported,
    TimeoutReached,
)
from actors.run_policies import ClaimAgain, ReportWaitOver, RunPolicies
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable
from supervisor.models import OrchestrationResult, OrchestrationStatus, Run, State, StateType
from supervisor.policies import hooks
from supervisor.process import ExitReason, ExitResult, ProcessSpec, RunProcess
from supervisor.runkind import launch_for
from supervisor.settings import DeploymentSettings
from supervisor.timers import TimerHandle

logger = logging.getLogger("supervisor.runs")

LAUNCH_RETRY = 2.0
"""s before a flow run's job is read again after the control plane was unavailable."""


@dataclass(frozen=True)
class _Go:
    """The run's scheduled time has come (it was claimed a moment before)."""


@dataclass(frozen=True)
class _ReportRunning:
    """The control plane answered WAIT to RUNNING: propose it again."""


class RunActor(RunPolicies, SupervisedActor):
    kind = "run"
    pooled = True

    def __init__(
        self,
        ctx: SystemContext,
        parent: pykka.ActorRef[Any],
        run: Run,
        deployment: DeploymentSettings,
        puller: str | None = None,
        refusal: str | None = None,
        recovered: State | None = None,
    ) -> None:
        super().__init__(RunActorId(run.id), ctx, parent)
        self.run = run
        self._init_policies(run, refusal)
        self._recovered = recovered
        """A run a previous incarnation left in flight, closed out by the root with this state:
        this actor only runs its hook (its process is long gone, its report already queued)."""
        self.deployment = deployment
        self.puller = puller
        self.phase = RunPhase.CLAIMING
        self.process: RunProcess | None = None
        self.commit: str | None = None
        self._cancelled_by: str | None = None
        self._engine = False  # Prefect's engine reports this run's states (supervisor.runkind)
        self._timeout: TimerHandle | None = None
        self._prefix = f"[{deployment.name} {str(run.id)[:8]}]"
        self._publish()

    # lifecycle ------------------------------------------------------------------------------------

    def started(self) -> None:
        if self._recovered is not None:
            self.attempt, self._landed = max(1, self.run.run_count), True
            if not self._start_hook(self._recovered, None, unstarted=True):
                self._finish(self._recovered)
            return
        self._claim()

    def stopping(self) -> None:
        for timer in (self._timeout, self._claim_retry):
            if timer is not None:
                timer.cancel()

    def on_receive(self, message: Any) -> None:
        match message:
            case _ReportRunning() if self.process is not None and not self.process.done:
                self._report_running()
            case _Go() if self.phase is RunPhase.ARMED:
                self._go()
            case CheckoutReady(path=path, commit=commit) if self.phase is RunPhase.PREPARING:
                self.commit = commit
                self._start(Path(path) if path else None)
            case CheckoutFailed(message=text) if self.phase is RunPhase.PREPARING:
                self._end_unstarted(State.of(StateType.CRASHED, text))
            case CancelRun():
                self._cancel(message)
            case TimeoutReached() if self.process is not None:
                logger.info("%s timed out after %ss", self._prefix, self.deployment.timeout)
                self.process.terminate(self._grace(), ExitReason.TIMED_OUT)
            case StateReported(state=state, result=result):
                self._on_reported(state, result)
            case ProcessExited(result=result):
                self._on_exit(result)
            case hooks.HookExited() | hooks.HookTimedOut() | ReportWaitOver():
                self._on_policy_message(message)
            case ClaimAgain() if self.phase in (RunPhase.QUEUED, RunPhase.CLAIMING):
                self._claim_retry = None
                self._claim()

    # phases ---------------------------------------------------------------------------------------

    def _claim(self) -> None:
        supervisor = self.ctx.settings.supervisor.name
        try:
            result = self.ctx.control_plane.set_state(
                self.run.id,
                State.of(StateType.PENDING, f"claimed by {supervisor}"),
                idempotency_key=self._key(f"pending:{supervisor}"),
                supervisor=supervisor,
            )
        except ControlPlaneUnavailable as exc:
            self._claim_unanswered(exc)
            return
        except ControlPlaneError as exc:  # the run stays SCHEDULED; a later poll finds it again
            logger.warning("%s claim failed: %s", self._prefix, exc)
            self._finish(None)
            return
        if not result.accepted:
            if self._queued(result):  # its deployment's concurrency is taken: try again soon
                return
            logger.info("%s not started: %s", self._prefix, result.reason or result.status)
            self._finish(None)
            return
        self.run = self.run.model_copy(
            update={"state": result.state or self.run.state, "supervisor": supervisor}
        )
        if self._refused():  # its deployment's collision policy or skip_late_after
            return
        wait = (self.run.scheduled_time - self.ctx.clock.now()).total_seconds()
        if self._cancelled_by is None and wait > 0:
            # Handed over a little early (see ARRIVE_EARLY): claimed, thread up; start on time.
            self.phase = RunPhase.ARMED
            self._publish()
            self.tell_later(wait, _Go())
        else:
            self._go()

    def _go(self) -> None:
        if self._cancelled_by is not None:
            self._end_unstarted(self._cancelled_state("before it started"))
        elif self.puller is not None:
            self.phase = RunPhase.PREPARING
            self._publish()
            self._tell(self.puller, PrepareCheckout(self.run.id, self.actor_ref))
        else:
            self._start(None)

    def _start(self, checkout: Path | None) -> None:
        if self._cancelled_by is not None:
            self._end_unstarted(self._cancelled_state("before it started"))
            return
        try:
            launch = launch_for(
                self.deployment, self.run.id, env=run_spec.environment(
                    self.ctx.environment, self.deployment, self.run,
                    self.ctx.settings.supervisor.log_dir),
                cwd=run_spec.working_dir(self.deployment, checkout),
                control_plane=self.ctx.control_plane,
                flow_python=self.ctx.settings.control_plane.flow_python)
        except ControlPlaneUnavailable as exc:  # the flow run's job is read again shortly
            logger.warning("%s could not read what to run yet: %s", self._prefix, exc)
            self.phase = RunPhase.PREPARING
            again = CheckoutReady(self.run.id, str(checkout or ""), self.commit)
            self.tell_later(LAUNCH_RETRY, again)
            return
        except ControlPlaneError as exc:
            self._end_unstarted(State.of(StateType.CRASHED, f"could not start: {exc}"))
            return
        self._engine = launch.engine
        spec = ProcessSpec(run_id=str(self.run.id), argv=launch.argv, cwd=launch.cwd,
                           env=launch.env, log_path=self._log_path(), kill_grace=self._grace())
        self._attempt_starts()
        ref, root, run_id = self.actor_ref, self.parent, self.run.id

        def exited(result: ExitResult) -> None:
            try:
                ref.tell(ProcessExited(run_id, result))
            except pykka.ActorDeadError:  # this actor failed: the root owns the slot now
                root.tell(ProcessExited(run_id, result))  # type: ignore[union-attr]

        self.phase = RunPhase.RUNNING
        echo = self._output if self.ctx.echo_runs else None  # output belongs in the run's log
        self.process = self.ctx.launch(spec, on_output=echo, on_exit=exited)
        if self.process.pid is None:  # could not start: ProcessExited is on its way
            return  # (a quick process may be done already, and it did run: report it)
        self.ctx.metrics.runs_started.inc()
        root.tell(ProcessStarted(run_id, self.process))  # type: ignore[union-attr]
        self._report_running()
        if self.deployment.timeout:
            self._timeout = self.tell_later(self.deployment.timeout, TimeoutReached())
        self._publish()

    def _report_running(self) -> None:
        assert self.process is not None
        pid = self.process.pid
        self._report(State.of(StateType.RUNNING, f"pid {pid}"), "running", pid=pid)

    def _report(self, state: State, key: str, **fields: Any) -> None:
        """Through the state reporter, which answers this actor with `StateReported`."""
        self._tell(
            STATE_REPORTER,
            ReportState(
                self.run.id, state, self._key(key), reply_to=self.actor_ref,
                commit=self.commit, engine=self._engine, **fields,
            ),
        )

    def _cancel(self, message: CancelRun) -> None:
        if self._cancelled_by is not None and not message.shutdown:
            return
        self._cancelled_by = message.by
        reason = ExitReason.SHUTDOWN if message.shutdown else ExitReason.CANCELLED
        grace = self._grace() if message.grace is None else message.grace
        if self._cancel_policies(grace, reason):
            return
        if self.process is not None:
            self.process.terminate(grace, reason)
        elif self.phase in (RunPhase.PREPARING, RunPhase.ARMED):
            self._end_unstarted(self._cancelled_state("before it started"))
        elif self._claim_retry is not None and message.shutdown:  # see _claim_unanswered
            self._claim_retry.cancel()
            self._claim_retry = None
            self._finish(None)
        # while claiming, _claim sees _cancelled_by and does not start

    def _on_reported(self, proposed: State, result: OrchestrationResult) -> None:
        """Branch on what was proposed; record what the control plane says now stands."""
        if proposed.type is not StateType.RUNNING:
            self._report_landed(proposed)
            return
        if result.status is OrchestrationStatus.ACCEPT:
            state = result.state or proposed
            self.run = self.run.model_copy(
                update={
                    "state": state,
                    "start_time": state.timestamp,
                    "pid": self.process and self.process.pid,
                    "commit": self.commit,
                }
            )
            self._publish()
        elif result.status is OrchestrationStatus.WAIT and self.process is not None:
            # The control plane holds RUNNING until the run's time (Prefect's clock may lead ours).
            self.tell_later(result.retry_after or 1.0, _ReportRunning())
        elif result.status is OrchestrationStatus.ABORT and self.process is not None:
            # Cancelled between claim and start: end what we started.
            if self._cancelled_by is None:
                self._cancelled_by = result.reason or "the control plane (cancelled at its start)"
            self.process.terminate(self._grace(), ExitReason.CANCELLED)

    def _on_exit(self, result: ExitResult) -> None:
        if self._timeout is not None:
            self._timeout.cancel()
        if result.escalated:
            self.ctx.metrics.kill_escalations.inc()
        if result.log_truncated:
            self.ctx.metrics.run_logs_truncated.inc()
        log_dir = self.ctx.settings.supervisor.log_dir
        state = run_spec.exit_state(
            result,
            cancelled_by=self._cancelled_by,
            raised=run_spec.raised(self.deployment, self.run, log_dir),
            engine=self._engine,
            log_path=self._log_path(),
        )
        logger.info("%s %s: %s", self._prefix, state.name, state.message)
        if self._retried(state, result):
            return
        self._report_terminal(state, exit_code=result.returncode)
        if not self._start_hook(state, result.returncode):
            self._ended(state)

    def _end_unstarted(self, state: State) -> None:
        self._report_terminal(state, exit_code=None)
        if state.type is StateType.CRASHED and self._start_hook(state, None, unstarted=True):
            return  # on_failure for a run that never got a process (code pull, its job)
        self._ended(state)

    def _report_terminal(self, state: State, exit_code: int | None) -> None:
        self.ctx.metrics.runs_finished.labels(state.type.value).inc()
        self._report(state, "terminal", exit_code=exit_code)

    def _finish(self, state: State | None) -> None:
        self.phase = RunPhase.DONE
        if self.puller is not None:
            self._tell(self.puller, ReleaseCheckout(self.run.id))
        with contextlib.suppress(pykka.ActorDeadError):  # after a hard stop: nobody to tell
            self.parent.tell(RunFinished(self.run.id, state))  # type: ignore[union-attr]
        self.ctx.board.remove(self.name)
        self.stop()

    # helpers --------------------------------------------------------------------------------------

    def _tell(self, sibling: str, message: Any) -> None:
        """Through the directory, the one path to a sibling: it parks the message while the
        root restarts that sibling (actors/directory.py)."""
        self.ctx.directory.tell(sibling, message)

    def _cancelled_state(self, when: str) -> State:
        return State.of(StateType.CANCELLED, f"cancelled by {self._cancelled_by} {when}")

    def _output(self, line: str) -> None:
        logger.info("%s %s", self._prefix, line.rstrip("\n"))

    def _publish(self) -> None:
        process = self.process
        self.ctx.board.own(
            self.name,
            run_id=str(self.run.id),
            deployment=self.deployment.name,
            phase=self.phase,  # a StrEnum: the same JSON as the plain string
            pid=process.pid if process else None,
            commit=self.commit,
            run=functools.partial(Run.to_json, self.run),  # serialised when read, not here
            tree=(lambda: [asdict(p) for p in process.tree()]) if process else [],
        )
