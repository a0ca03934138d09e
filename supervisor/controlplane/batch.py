"""Many state proposals at once: in one transaction where the adapter can, one by one otherwise.

The state reporter sends what it has queued as one batch: on the local adapter that is one
SQLite transaction instead of one per report (0.25 → 0.1 ms a report). Proposals are applied in
the order given, so a run's RUNNING never lands after its terminal state, and each keeps its
idempotency key, so a batch retried after an outage applies nothing twice.

`propose_all` answers (outcomes, unavailable): an outcome per proposal of the prefix that was
answered (an OrchestrationResult, or the ControlPlaneError that refused that one proposal), and
the ControlPlaneUnavailable that stopped the batch, if one did (the rest is to be retried).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable
from supervisor.models import OrchestrationResult, State

Outcome = OrchestrationResult | ControlPlaneError
Answered = tuple[list[Outcome], ControlPlaneUnavailable | None]


@dataclass(frozen=True)
class Proposal:
    """One `set_state` call, as a value."""

    run_id: uuid.UUID
    state: State
    idempotency_key: str | None = None
    force: bool = False
    supervisor: str | None = None
    pid: int | None = None
    exit_code: int | None = None
    commit: str | None = None
    scheduled_time: datetime | None = None
    """With a SCHEDULED state (a retry): when the run is due again."""

    def options(self) -> dict[str, Any]:
        return {
            "scheduled_time": self.scheduled_time,
            "force": self.force,
            "idempotency_key": self.idempotency_key,
            "supervisor": self.supervisor,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "commit": self.commit,
        }


def propose_each(
    set_state: Callable[..., OrchestrationResult], proposals: Sequence[Proposal]
) -> Answered:
    """The batch as single `set_state` calls, stopping at the first outage."""
    outcomes: list[Outcome] = []
    for proposal in proposals:
        try:
            outcomes.append(set_state(proposal.run_id, proposal.state, **proposal.options()))
        except ControlPlaneUnavailable as exc:
            return outcomes, exc
        except ControlPlaneError as exc:  # not retryable: this proposal's answer
            outcomes.append(exc)
    return outcomes, None


def propose_all(plane: Any, proposals: Sequence[Proposal]) -> Answered:
    """`plane.set_states` when the adapter has it (one transaction), else one by one."""
    batch = getattr(plane, "set_states", None)
    if batch is not None:
        answered: Answered = batch(proposals)
        return answered
    return propose_each(plane.set_state, proposals)
