"""The run actor's side of the run policies (supervisor/policies): retry keys and retries, the
refusals right after a claim (collision, skip_late_after), a claim told to wait or left
unanswered, the run's hook, and holding a limited deployment's slot until its end is reported.

A mixin of `RunActor`, so the policies stay out of the actor's own phases: the actor calls
`_init_policies`, `_key`, `_claim_unanswered`, `_queued`, `_refused`, `_retried`, `_start_hook`,
`_ended` and hands these modules' messages to `_on_policy_message`; everything else it provides
(declared below, for the type checker only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pykka

from actors.base import STATE_REPORTER, SystemContext
from actors.identity import RunPhase
from actors.messages import PollNow, ProcessExited, ProcessStarted, ReportState
from supervisor.errors import ControlPlaneUnavailable
from supervisor.models import OrchestrationResult, OrchestrationStatus, Run, State, StateType
from supervisor.policies import hooks, lateness, retry
from supervisor.policies.sections import start_section
from supervisor.process import ExitReason, ExitResult, RunProcess
from supervisor.settings import DeploymentSettings
from supervisor.timers import TimerHandle

logger = logging.getLogger("supervisor.runs")


CLAIM_RETRY_CAP = 5.0
"""s at most between asks of a claim whose answer was lost (the control plane unavailable)."""
REPORT_WAIT = 10.0
"""Most s a run of a deployment with a concurrency limit keeps its slot after its end, waiting
for the end's report to land (a control-plane outage must not hold slots for ever)."""


@dataclass(frozen=True)
class ReportWaitOver:
    """REPORT_WAIT passed: free the slot whether or not the report landed."""


@dataclass(frozen=True)
class ClaimAgain:
    """Claim again: the claim was told to WAIT (the deployment's concurrency is taken, by
    another process sharing the control plane or by a run whose end is still being reported),
    or its answer was lost (see `_claim_unanswered`)."""


class RunPolicies:
    if TYPE_CHECKING:  # provided by RunActor and SupervisedActor
        ctx: SystemContext
        run: Run
        deployment: DeploymentSettings
        parent: pykka.ActorRef[Any] | None
        actor_ref: pykka.ActorRef[Any]
        phase: RunPhase
        process: RunProcess | None
        _cancelled_by: str | None
        _timeout: TimerHandle | None
        _prefix: str

        def tell_later(self, delay: float, message: Any) -> TimerHandle: ...
        def _tell(self, sibling: str, message: Any) -> None: ...
        def _finish(self, state: State | None) -> None: ...
        def _end_unstarted(self, state: State) -> None: ...
        def _publish(self) -> None: ...

    def _init_policies(self, run: Run, refusal: str | None) -> None:
        self.attempt = run.run_count + 1
        self._again = run.state.name == retry.AWAITING_RETRY
        """A retry: its reports get keys of their own (see `_key`), its log a new section."""
        self._refusal = refusal
        """Claim, then end CANCELLED with this message (the deployment's collision policy)."""
        self._hook: RunProcess | None = None
        self._final: State | None = None
        self._landed = False
        """The run's final report (terminal, or a retry) was answered by the control plane."""
        self._claim_retry: TimerHandle | None = None
        self._claim_tries = 0

    def _grace(self) -> float:
        """The deployment's kill grace: for the run's tree and its hooks alike."""
        return self.ctx.settings.kill_grace_for(self.deployment)

    def _log_path(self) -> Path:
        return self.ctx.settings.supervisor.log_dir / f"{self.run.id}.log"

    def _key(self, kind: str) -> str:
        """A report's idempotency key: a retry's attempt (same run, due at a new time) must not
        meet the keys its earlier attempts used."""
        if not self._again:
            return f"{self.run.id}:{kind}"
        return f"{self.run.id}:{kind}:{self.attempt}@{self.run.scheduled_time.isoformat()}"

    def _attempt_starts(self) -> None:
        if self._again:
            start_section(self._log_path(), f"attempt {self.attempt}", self.ctx.clock.now())

    def _claim_unanswered(self, exc: ControlPlaneUnavailable) -> None:
        """The claim may have landed with its answer lost (a Prefect server that timed out
        after writing PENDING): then no poll offers the run again and it would stay PENDING.
        So ask again, with the same idempotency key (a landed claim answers ACCEPT), holding
        the slot, until the control plane answers; a shutdown meanwhile leaves it to the
        next start's recovery (the journal knows the claim)."""
        if self._cancelled_by is not None:
            self._finish(None)
            return
        self._claim_tries += 1
        delay = min(CLAIM_RETRY_CAP, 0.5 * 2 ** (self._claim_tries - 1))
        logger.warning("%s claim not answered (%s); asking again in %gs", self._prefix, exc, delay)
        self._claim_retry = self.tell_later(delay, ClaimAgain())

    def _queued(self, claim: OrchestrationResult) -> bool:
        """A claim WAITed for a deployment with a concurrency limit: hold this run's slot here
        and claim again after the delay (the run stays SCHEDULED meanwhile)."""
        if (claim.status is not OrchestrationStatus.WAIT or self.deployment.concurrency is None
                or self._cancelled_by is not None):
            return False
        self.phase = RunPhase.QUEUED
        self._publish()
        self.tell_later(claim.retry_after or 1.0, ClaimAgain())
        return True

    def _refused(self) -> bool:
        """Right after the claim: end the run CANCELLED if the deployment's collision policy
        or its catch-up cap (skip_late_after) says so. Counts a late start."""
        now, name = self.ctx.clock.now(), self.deployment.name
        verdict = self._refusal or lateness.skip_message(self.deployment, self.run, now)
        if verdict is not None and self._cancelled_by is None:
            if self._refusal is None:
                self.ctx.metrics.runs_skipped.labels(name).inc()
            logger.info("%s %s", self._prefix, verdict)
            self._end_unstarted(State.of(StateType.CANCELLED, verdict))
            return True
        if lateness.is_late(self.deployment, self.run, now):
            self.ctx.metrics.runs_late.labels(name).inc()
        return False

    def _retried(self, state: State, result: ExitResult) -> bool:
        """After the attempt's tree ended: put the run back to AwaitingRetry if the deployment's
        retries say so (never after a cancel, a shutdown or a process that could not start)."""
        if self._cancelled_by is not None or result.reason is ExitReason.START_FAILED:
            return False
        now: datetime = self.ctx.clock.now()
        again = retry.next_attempt(self.deployment, state, self.attempt, now,
                                   self.run.scheduled_time)
        if again is None:
            return False
        awaiting, due = again
        logger.info("%s %s", self._prefix, awaiting.message)
        self.ctx.metrics.run_retries.labels(self.deployment.name).inc()
        self._tell(STATE_REPORTER, ReportState(
            self.run.id, awaiting, self._key("retry"), reply_to=self.actor_ref,
            exit_code=result.returncode, scheduled_time=due))
        self._ended(awaiting)
        return True

    def _ended(self, state: State) -> None:
        """The run is over here (its trees reaped). With a concurrency limit, or for a retry,
        its slot is freed once its final report landed (at most REPORT_WAIT s): until then the
        control plane still counts it in flight and would refuse the next claim, and a retry is
        not yet due to be read. Otherwise at once."""
        waits = self.deployment.concurrency is not None or state.type is StateType.SCHEDULED
        if not waits or self._landed:
            self._finish(state)
            return
        self.phase, self._final = RunPhase.REPORTING, state
        self._publish()
        self.tell_later(REPORT_WAIT, ReportWaitOver())

    def _report_landed(self, proposed: State) -> None:
        """The control plane answered a report other than RUNNING (the final one)."""
        if proposed.type is StateType.SCHEDULED and self.parent is not None:
            self.parent.tell(PollNow())  # a retry: read its new due time now, not at a tick
        self._landed = True
        if self.phase is RunPhase.REPORTING:
            self._finish(self._final)

    def _start_hook(self, state: State, exit_code: int | None, unstarted: bool = False) -> bool:
        """Run the hook for this final state, if any; its tree counts as the run's (the root
        holds it like the run's own, and the run's slot is held until it ends). A run that
        never started a process gets one only when `unstarted` (it CRASHED before its start;
        a refusal or a cancel before the start is no end a hook is for)."""
        found = hooks.hook_for(self.deployment, state)
        if found is None or (self.process is None and not unstarted):
            return False
        key, argv = found
        log_path = self._log_path()
        start_section(log_path, f"{key} hook", self.ctx.clock.now())
        run = self.run.model_copy(update={"run_count": max(self.attempt, self.run.run_count)})
        spec = hooks.hook_spec(key, argv, self.ctx.environment, self.deployment, run, state,
                               exit_code, log_path, self._grace())
        ref, root, run_id = self.actor_ref, self.parent, self.run.id
        assert root is not None  # a run actor always has the root as its parent

        def exited(result: ExitResult) -> None:
            try:
                ref.tell(hooks.HookExited(key, result))
            except pykka.ActorDeadError:  # the root owns the hook's tree now
                root.tell(ProcessExited(run_id, result))

        self.phase, self._final = RunPhase.HOOK, state
        self._hook = self.ctx.launch(spec, on_output=None, on_exit=exited)
        if not self._hook.done:
            root.tell(ProcessStarted(run_id, self._hook))
            self._timeout = self.tell_later(hooks.timeout(self._grace()), hooks.HookTimedOut(key))
        self._publish()
        return True

    def _cancel_policies(self, grace: float, reason: ExitReason) -> bool:
        """A cancel or shutdown while queued (nothing claimed: the run stays as it is) or while
        the hook runs (its tree is ended); False when neither."""
        if self.phase is RunPhase.QUEUED:
            self._finish(None)
            return True
        if self.phase is RunPhase.REPORTING:  # its trees are gone: nothing to end
            self._finish(self._final)
            return True
        if self._hook is None:
            return False
        self._hook.terminate(grace, reason)
        return True

    def _on_policy_message(
        self, message: hooks.HookExited | hooks.HookTimedOut | ReportWaitOver
    ) -> None:
        if isinstance(message, ReportWaitOver):
            if self.phase is RunPhase.REPORTING:
                logger.warning("%s its end is not reported yet; freeing its slot", self._prefix)
                self._finish(self._final)
            return
        if isinstance(message, hooks.HookTimedOut):
            if self._hook is not None:
                logger.warning("%s %s hook timed out", self._prefix, message.name)
                self._hook.terminate(self._grace(), ExitReason.TIMED_OUT)
            return
        if self._timeout is not None:
            self._timeout.cancel()
        problem = hooks.failure(message.result)
        if problem is not None:
            self.ctx.metrics.hook_failures.labels(self.deployment.name, message.name).inc()
            logger.warning("%s %s hook failed: %s", self._prefix, message.name, problem)
        assert self._final is not None
        self._ended(self._final)
