"""The control-plane port: the one small interface the actors and the CLI use.

Every adapter (local SQLite, in-memory fake, Prefect server) passes the same contract suite in
`tests/controlplane/contract.py`. Methods are blocking and thread-safe; each call may raise
`ControlPlaneUnavailable` (retry with backoff) or another `ControlPlaneError` (do not retry).

Orchestration rules every adapter enforces (Prefect's, reduced to what a runner needs):
- SCHEDULED → PENDING is a claim: ACCEPT once; any later claim of the same run is ABORTed
  (the run is taken, cancelled or gone). That is how supervisors share one control plane.
- A proposal on a run already in a terminal state is ABORTed unless `force=True`.
- PENDING → RUNNING on a run that was meanwhile cancelled is ABORTed (the caller ends its tree).
- A proposal carrying an `idempotency_key` already applied returns the original result and
  changes nothing, so a retried report cannot apply twice.

Where a Prefect server's own rules differ (it accepts proposals on finished runs, rejects rather
than aborts on cancelled ones, returns paused deployments' runs, makes schedule runs with its own
scheduler rather than on read), the `prefect` adapter says how it keeps these rules or why it
cannot: see its module docstring and `tests/prefect/test_contract.py`.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from supervisor.models import DeploymentInfo, OrchestrationResult, Run, State, StateType
from supervisor.settings import DeploymentSettings


@runtime_checkable
class ControlPlane(Protocol):
    def register_deployments(self, deployments: Sequence[DeploymentSettings]) -> None:
        """Upsert deployments by name; a changed schedule drops its future unclaimed slots."""

    def read_deployments(self) -> list[DeploymentInfo]:
        """Every registered deployment with its schedule, next slot and paused flag."""

    def set_paused(self, deployment: str, paused: bool) -> None:
        """Pause or resume a deployment's schedule (raises DeploymentNotFound)."""

    def create_run(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
    ) -> Run:
        """An ad hoc run in SCHEDULED, due at `scheduled_time` (default: now).

        Parameters are the deployment's defaults updated with `parameters`.
        Raises DeploymentNotFound.
        """

    def read_scheduled_runs(
        self, deployments: Collection[str], before: datetime, limit: int
    ) -> list[Run]:
        """SCHEDULED runs of these deployments due at or before `before`, oldest first.

        Materialises schedule slots up to `before` first (never twice for one slot); runs of
        paused deployments are not returned.
        """

    def read_cancelling_runs(self, run_ids: Collection[uuid.UUID]) -> list[Run]:
        """Those of `run_ids` whose state is CANCELLING."""

    def read_run(self, run_id: uuid.UUID) -> Run:
        """One run (raises RunNotFound)."""

    def read_runs(
        self,
        *,
        deployment: str | None = None,
        states: Collection[StateType] | None = None,
        supervisor: str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """Runs newest first (by scheduled time), filtered by deployment, states and claimer."""

    def read_states(self, run_id: uuid.UUID) -> list[State]:
        """Every state the run went through, oldest first (raises RunNotFound)."""

    def set_state(
        self,
        run_id: uuid.UUID,
        state: State,
        *,
        force: bool = False,
        idempotency_key: str | None = None,
        supervisor: str | None = None,
        pid: int | None = None,
        exit_code: int | None = None,
        commit: str | None = None,
        scheduled_time: datetime | None = None,
    ) -> OrchestrationResult:
        """Propose a state. On ACCEPT the run's fields are updated: `supervisor` on PENDING,
        `start_time` and `run_count + 1` on RUNNING, `end_time` on a terminal state, and `pid`,
        `exit_code`, `commit` when given. A SCHEDULED state with `scheduled_time` (a retry,
        Prefect's "AwaitingRetry") makes the run due again then. Raises RunNotFound.
        """

    def request_cancel(self, run_id: uuid.UUID) -> Run:
        """What `cancel` does: SCHEDULED or PENDING → CANCELLED at once; RUNNING → CANCELLING;
        CANCELLING or terminal: unchanged. Returns the run as it now is. Raises RunNotFound."""

    def close(self) -> None:
        """Release connections; the object is unusable afterwards."""
