"""Proposing a state to Prefect, and reading its answer by the port's rules.

Prefect's answers differ from the port's in three places, mapped here: a repeat of our own
transition is REJECTed "already made" (it landed: ACCEPT); a PENDING refused at a 3.x
deployment's concurrency limit leaves the run "AwaitingConcurrencySlot" (WAIT until it is
free); a proposal on a CANCELLING/CANCELLED run is REJECTed (the port's ABORT). And Prefect
ACCEPTs PENDING on a run that finished between our read and our proposal: `not_after_an_end`
finds that in the run's history and puts the end back.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from supervisor.clock import Clock
from supervisor.controlplane.prefect import wire
from supervisor.controlplane.prefect.claims import state_before
from supervisor.controlplane.prefect.http import NotFound, PrefectHTTP
from supervisor.errors import RunNotFound
from supervisor.models import OrchestrationResult, OrchestrationStatus, State, StateType

logger = logging.getLogger("supervisor.prefect")

ALREADY_DONE = "already made this state transition"
CANCEL_TYPES = (StateType.CANCELLING, StateType.CANCELLED)


class Proposer:
    def __init__(self, http: PrefectHTTP, clock: Clock,
                 read_state: Callable[[uuid.UUID], State]) -> None:
        self._http = http
        self._clock = clock
        self._read_state = read_state

    def propose(self, run_id: uuid.UUID, state: State, force: bool, key: str | None,
                transition: uuid.UUID | None = None, scheduled_time: datetime | None = None
                ) -> OrchestrationResult:
        scheduled = None
        if state.type is StateType.SCHEDULED:  # a retry: Prefect's AwaitingRetry, due then
            scheduled = scheduled_time or state.timestamp
        transition = transition or wire.transition_id(run_id, key)
        body = {"state": wire.state_body(state, transition, scheduled), "force": force}
        try:
            answer = self._http.call("POST", f"flow_runs/{run_id}/set_state", body)
        except NotFound:
            raise RunNotFound(
                f"no run {run_id} on the Prefect server {self._http.api_url}") from None
        status = OrchestrationStatus(answer["status"])
        details = answer.get("details") or {}
        reason = details.get("reason") or ""
        after = wire.state_from(answer.get("state"))
        wait = details.get("delay_seconds") if status is OrchestrationStatus.WAIT else None
        if status is OrchestrationStatus.REJECT and key is not None and ALREADY_DONE in reason:
            status = OrchestrationStatus.ACCEPT  # our own earlier attempt landed
        elif (status is OrchestrationStatus.REJECT and state.type is StateType.PENDING
              and after is not None and after.type is StateType.SCHEDULED):
            # 3.x at a deployment's concurrency limit: the run is "AwaitingConcurrencySlot"
            status = OrchestrationStatus.WAIT
            wait = wire.wait_for(answer.get("state"), self._clock.now())
        elif (status is OrchestrationStatus.REJECT and after is not None
              and after.type in CANCEL_TYPES):
            status = OrchestrationStatus.ABORT  # the port's word for "the run is being cancelled"
        if after is None and status is not OrchestrationStatus.ACCEPT:
            after = self._read_state(run_id)
        return OrchestrationResult(status=status, state=after, reason=reason,
                                   retry_after=float(wait) if wait is not None else None)

    def not_after_an_end(self, run_id: uuid.UUID, transition: uuid.UUID,
                         result: OrchestrationResult) -> OrchestrationResult:
        """Prefect ACCEPTs PENDING on a run that finished between our read and our proposal
        (another kind of runner may have run it): its final state goes back and we refuse."""
        history = self._http.call("GET", "flow_run_states/", flow_run_id=str(run_id))
        before = state_before(history, transition)
        if before is None or not before.type.is_terminal:
            return result
        logger.warning("run %s had ended %s before our claim landed; putting that back",
                       run_id, before.type.value)
        self.propose(run_id, before, True, None, uuid.uuid4())
        return OrchestrationResult(
            status=OrchestrationStatus.ABORT, state=before,
            reason=f"Run is already in terminal state {before.type.value}.")
