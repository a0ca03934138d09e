"""The `prefect` adapter: the ControlPlane port over a Prefect 2.x or 3.x server's REST API.

The server schedules (its own scheduler makes the runs of a deployment's schedules, as for
`flow.serve`) and orchestrates (a claim is a PENDING proposal the server ABORTs for a second
claimer). Where Prefect's rules differ from the port's docstring, this adapter keeps the port's
rule on the client side and says so:

- Prefect ACCEPTs PENDING/RUNNING/COMPLETED on COMPLETED/FAILED/CRASHED runs: every proposal
  that is not forced reads the run first and is ABORTed here when the run is terminal. This is a
  read-then-write window, not an atomic check (Prefect offers none).
- Prefect's answers to a proposal are read by the port's rules in proposals.py.
- Prefect still returns runs of paused deployments from `get_scheduled_flow_runs`: filtered here.
- Idempotency: a key gives a fixed `transition_id` (the server REJECTs a repeat while it is the
  current transition) and the first answer is kept in the journal (any later repeat returns it).
- Which supervisor claimed a run, its exit code and commit are not Prefect fields: the journal
  keeps them; `pid` goes to `infrastructure_pid` as `<hostname>:<pid>`, as Prefect's agent writes.
- Schedules are materialised by the server's scheduler (within ~5 s of a deployment's
  registration, an hour or 100 runs ahead), not on read.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from supervisor.clock import Clock
from supervisor.controlplane.prefect import queries, wire
from supervisor.controlplane.prefect.claims import ClaimLocks
from supervisor.controlplane.prefect.deployments import PrefectDeployments
from supervisor.controlplane.prefect.http import NotFound, PrefectHTTP, auth_headers
from supervisor.controlplane.prefect.jobs import EngineJob, read_job
from supervisor.controlplane.prefect.journal import Claim, Journal
from supervisor.controlplane.prefect.pool import WorkPool
from supervisor.controlplane.prefect.proposals import Proposer
from supervisor.errors import ControlPlaneError, DeploymentNotFound, RunNotFound
from supervisor.models import (
    DeploymentInfo,
    OrchestrationResult,
    OrchestrationStatus,
    Run,
    State,
    StateType,
)
from supervisor.settings import ControlPlaneSection, DeploymentSettings

logger = logging.getLogger("supervisor.prefect")

SUPPORTED_MAJORS = ("2", "3")


class PrefectControlPlane:
    """The ControlPlane port on a Prefect server; checks the server's version on construction."""

    def __init__(
        self,
        section: ControlPlaneSection,
        *,
        deployments: Sequence[DeploymentSettings] = (),
        environment: Mapping[str, str] | None = None,
        clock: Clock | None = None,
        journal: Journal | None = None,
        hostname: str | None = None,
        worker: str | None = None,
    ) -> None:
        import os

        env = os.environ if environment is None else environment
        assert section.api_url is not None, "validated by the settings"
        key = env.get(section.api_key_env) if section.api_key_env else None
        auth = env.get(section.auth_string_env) if section.auth_string_env else None
        self.api_url = section.api_url
        self._ws_token = auth or key
        self._http = PrefectHTTP(section.api_url, timeout=section.timeout,
                                 headers=auth_headers(key, auth),
                                 max_connections=section.max_connections)
        self._clock = clock or Clock()
        self._hostname = hostname or socket.gethostname()
        self._locks = ClaimLocks(self._http)
        self._proposer = Proposer(self._http, self._clock, lambda run: self.read_run(run).state)
        self._api_env = {"PREFECT_API_URL": section.api_url}
        if key:
            self._api_env["PREFECT_API_KEY"] = key
        if auth:
            self._api_env["PREFECT_API_AUTH_STRING"] = auth
        self._pool = (WorkPool(self._http, section, f"{worker or 'supervisor'}@{self._hostname}")
                      if section.work_pool else None)
        self._deployments = PrefectDeployments(self._http, section.api_url, self._clock,
                                               deployments)
        try:
            self.version = self._check_version()
            self._deployments.major = self.major
            self.journal = journal or Journal(Path(section.journal))
        except BaseException:
            self._http.close()
            raise

    def _check_version(self) -> str:
        try:
            version = str(self._http.call("GET", "admin/version"))
        except NotFound:
            raise ControlPlaneError(
                f"{self.api_url} is not a Prefect API (no /admin/version); "
                "the URL usually ends in /api") from None
        if version.split(".")[0] not in SUPPORTED_MAJORS:
            raise ControlPlaneError(
                f"Prefect server at {self.api_url} is version {version}; "
                "supported: 2.x (2.19 or newer) and 3.x")
        return version

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    def close(self) -> None:
        self._http.close()
        self.journal.close()

    # -- deployments (supervisor/controlplane/prefect/deployments.py) -----------------------

    def register_deployments(self, deployments: Sequence[DeploymentSettings]) -> None:
        """Upsert each as a flow + deployment; also sweeps claim locks a crash left."""
        try:
            self._locks.sweep()
        except ControlPlaneError as exc:
            logger.warning("could not sweep old claim locks: %s", exc)
        self._deployments.register(deployments)
        if self._pool is not None:
            self._pool.ensure()

    def read_deployments(self) -> list[DeploymentInfo]:
        return self._deployments.read()

    def set_paused(self, deployment: str, paused: bool) -> None:
        self._deployments.set_paused(deployment, paused)

    # -- runs ------------------------------------------------------------------------------

    def _run(self, data: dict[str, Any], claim: Claim | None = None) -> Run:
        return wire.run_from(data, self._deployments.name_of(data.get("deployment_id")), claim)

    def _runs(self, found: list[dict[str, Any]]) -> list[Run]:
        claims = self.journal.claims(uuid.UUID(d["id"]) for d in found)
        return [self._run(d, claims.get(uuid.UUID(d["id"]))) for d in found]

    def create_run(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
    ) -> Run:
        deployment_id = self._deployments.require(deployment)
        when = scheduled_time or self._clock.now()
        body = {
            "parameters": dict(parameters or {}),
            "state": wire.state_body(State.of(StateType.SCHEDULED), uuid.uuid4(), when),
        }
        try:
            data = self._http.call("POST", f"deployments/{deployment_id}/create_flow_run", body)
        except NotFound:
            self._deployments.forget(deployment)
            raise DeploymentNotFound(f"no deployment {deployment!r} on {self.api_url}") from None
        return self._run(data)

    def read_scheduled_runs(
        self, deployments: Collection[str], before: datetime, limit: int
    ) -> list[Run]:
        if limit <= 0:
            return []
        ids = [i for i in (self._deployments.id_of(n) for n in dict.fromkeys(deployments)) if i]
        found: list[dict[str, Any]] = []
        if ids:
            found = self._http.call("POST", "deployments/get_scheduled_flow_runs", {
                "deployment_ids": [str(i) for i in ids],
                "scheduled_before": wire.iso(before),
                "limit": min(limit, queries.PAGE),
            })
        if self._pool is not None:
            seen = {d["id"] for d in found}
            pooled = self._pool.read(before, min(limit, queries.PAGE))
            found += [d for d in pooled if d["id"] not in seen]
        self._locks.release_due()
        if not found:
            return []
        paused = self._deployments.paused({d["deployment_id"] for d in found if d["deployment_id"]})
        runs = self._runs([d for d in found if d["deployment_id"] not in paused])
        return sorted(runs, key=lambda r: r.scheduled_time)

    def read_cancelling_runs(self, run_ids: Collection[uuid.UUID]) -> list[Run]:
        """Both forms: type CANCELLING, and 2.x's legacy CANCELLED named "Cancelling"."""
        ids = [str(r) for r in dict.fromkeys(run_ids)]
        found = queries.by_ids(self._http, ids, queries.state_criteria([StateType.CANCELLING]))
        return [r for r in self._runs(found) if r.state.type is StateType.CANCELLING]

    def read_run(self, run_id: uuid.UUID) -> Run:
        return self._run(self._read(run_id), self.journal.claim(run_id))

    def _read(self, run_id: uuid.UUID) -> dict[str, Any]:
        try:
            return self._http.call("GET", f"flow_runs/{run_id}")
        except NotFound:
            raise RunNotFound(f"no run {run_id} on the Prefect server {self.api_url}") from None

    def read_runs(
        self,
        *,
        deployment: str | None = None,
        states: Collection[StateType] | None = None,
        supervisor: str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        """This config's deployments' runs (not every run on the server), newest first."""
        if (states is not None and not states) or limit <= 0:
            return []
        if deployment is not None:
            known = self._deployments.id_of(deployment)
            ids = [known] if known else []
        elif supervisor is not None and self._pool is not None:
            ids = []  # a worker's runs are of any deployment: the journal says which are ours
        else:
            ids = self._deployments.known_ids()
        if not ids and supervisor is None:
            return []
        criteria: dict[str, Any] = {} if states is None else queries.state_criteria(states)
        if ids:
            criteria["deployment_id"] = {"any_": [str(i) for i in ids]}
        if supervisor is None:
            found = queries.newest(self._http, criteria, limit)
        else:
            claimed = [str(r) for r in self.journal.runs_of(supervisor)]
            found = queries.by_ids(self._http, claimed, criteria) if claimed else []
        runs = self._runs(found)
        if states is not None:
            runs = [r for r in runs if r.state.type in states]
        if supervisor is not None:
            runs = [r for r in runs if self._ours(r, supervisor)]
        runs.sort(key=lambda r: r.scheduled_time, reverse=True)
        return runs[:limit]

    def _ours(self, run: Run, supervisor: str) -> bool:
        """A claim cut short by a crash may have lost the run's lock to a peer: not ours then."""
        if run.state.type.is_terminal or run.state.type is StateType.SCHEDULED:
            return True
        holder = self._locks.holder(run.id)
        return holder is None or holder == supervisor

    def read_states(self, run_id: uuid.UUID) -> list[State]:
        found = self._http.call("GET", "flow_run_states/", flow_run_id=str(run_id))
        if not found:
            self._read(run_id)  # RunNotFound if there is no such run
        states = [s for s in map(wire.state_from, found) if s is not None]
        return sorted(states, key=lambda s: s.timestamp)

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
        if idempotency_key is not None:
            kept = self.journal.answer(run_id, idempotency_key)
            if kept is not None:
                return OrchestrationResult.model_validate(kept)
        if not force:
            current = self.read_run(run_id)
            if current.state.type.is_terminal:
                return OrchestrationResult(
                    status=OrchestrationStatus.ABORT, state=current.state,
                    reason=f"Run is already in terminal state {current.state.type.value}.")
        claiming = state.type is StateType.PENDING and not force
        if claiming:
            self.journal.claimed(run_id, supervisor or "")  # before anything can land
            holder = self._locks.acquire(run_id, supervisor or "")
            if holder is not None:
                self.journal.forget(run_id)
                return OrchestrationResult(status=OrchestrationStatus.ABORT, state=current.state,
                                           reason=f"This run is claimed by {holder}.")
        transition = wire.transition_id(run_id, idempotency_key)
        result = self._proposer.propose(run_id, state, force, idempotency_key, transition,
                                        scheduled_time)
        if claiming:
            if result.accepted:
                result = self._proposer.not_after_an_end(run_id, transition, result)
            if not result.accepted:
                self._locks.release(run_id)
                self.journal.forget(run_id)
        if result.accepted:
            self._record(run_id, state, pid, exit_code, commit)
            if idempotency_key is not None:
                self.journal.remember(run_id, idempotency_key, result.model_dump(mode="json"))
        return result

    def _record(self, run_id: uuid.UUID, state: State, pid: int | None, exit_code: int | None,
                commit: str | None) -> None:
        self.journal.reported(run_id, state.type.value, pid, exit_code, commit)
        if state.type is StateType.SCHEDULED:  # a retry: any supervisor may claim it again
            self._locks.release(run_id)
        if pid is not None and state.type is StateType.RUNNING:
            self._http.call("PATCH", f"flow_runs/{run_id}",
                            {"infrastructure_pid": wire.infrastructure_pid(self._hostname, pid)})
        if state.type.is_terminal:
            self._locks.ended(run_id)

    def request_cancel(self, run_id: uuid.UUID) -> Run:
        """SCHEDULED/PENDING → CANCELLED; RUNNING → CANCELLING, as the Prefect UI proposes it."""
        run = self.read_run(run_id)
        if run.state.type in (StateType.SCHEDULED, StateType.PENDING, StateType.PAUSED):
            target = State.of(StateType.CANCELLED, "cancelled before it started")
        elif run.state.type is StateType.RUNNING:
            target = State.of(StateType.CANCELLING, "cancel requested")
        else:
            return run
        self._proposer.propose(run_id, target, False, None)
        return self.read_run(run_id)

    # -- runs of Prefect's engine (the run kind is chosen in supervisor/runkind.py) ---------

    def engine_job(self, run_id: uuid.UUID) -> EngineJob:
        """What `python -m prefect.engine` needs for this run; CannotRun says why not."""
        return read_job(self._http, run_id, self._api_env)

    def record_pid(self, run_id: uuid.UUID, pid: int) -> None:
        """The engine reports RUNNING itself; the supervisor only says where it runs."""
        self.journal.reported(run_id, StateType.RUNNING.value, pid, None, None)
        self._http.call("PATCH", f"flow_runs/{run_id}",
                        {"infrastructure_pid": wire.infrastructure_pid(self._hostname, pid)})

    # -- the fast path for cancels (3.x) ---------------------------------------------------

    def cancel_events(self) -> Any:
        """A subscription to the server's Cancelling events, or None (2.x has no websocket)."""
        if self.major < 3:
            return None
        from supervisor.controlplane.prefect.events import CancelEvents

        return CancelEvents(self.api_url, self._ws_token)
