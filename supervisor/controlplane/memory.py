"""The `memory` adapter: an in-process fake of the port for unit tests (like dramatiq's stub
broker, shipped in the package). It follows the same rules as the local adapter (`rules.py`)
and passes the same contract suite; `fail_next` simulates an outage for retry tests.
"""

from __future__ import annotations

import functools
import itertools
import threading
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from supervisor.clock import Clock
from supervisor.controlplane import rules
from supervisor.controlplane.rules import utc
from supervisor.errors import (
    ControlPlaneError,
    ControlPlaneUnavailable,
    DeploymentNotFound,
    RunNotFound,
)
from supervisor.models import (
    IN_FLIGHT_STATES,
    DeploymentInfo,
    OrchestrationResult,
    OrchestrationStatus,
    Run,
    State,
    StateType,
)
from supervisor.schedules import describe, next_slot
from supervisor.settings import DeploymentSettings

F = TypeVar("F", bound=Callable[..., Any])


def _port(method: F) -> F:
    """A port method: under the plane's lock, counted in `calls`, failing when told to."""

    @functools.wraps(method)
    def wrapper(self: MemoryControlPlane, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self._enter(method.__name__)
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


@dataclass
class _Deployment:
    settings: DeploymentSettings
    key: str
    cursor: datetime
    next_slot: datetime | None
    paused: bool = False


@dataclass
class _Record:
    run: Run
    auto: bool
    seq: int
    states: list[State] = field(default_factory=list)
    keys: dict[str, OrchestrationResult] = field(default_factory=dict)


class MemoryControlPlane:
    """The ControlPlane port in memory; thread-safe, one lock around everything."""

    def __init__(self, clock: Clock | None = None) -> None:
        self._clock = clock or Clock()
        self._lock = threading.RLock()
        self._deployments: dict[str, _Deployment] = {}
        self._runs: dict[uuid.UUID, _Record] = {}
        self._seq = itertools.count()
        self._failures: list[tuple[Exception, frozenset[str] | None]] = []
        self._closed = False
        self.calls: list[str] = []
        """Names of the port methods called, in order (for tests that count round trips)."""

    # -- test hooks ------------------------------------------------------------------------

    def fail_next(self, count: int = 1, error: Exception | None = None,
                  only: Collection[str] | None = None) -> None:
        """The next `count` calls raise `error` (default: ControlPlaneUnavailable); with `only`,
        just calls of those port methods (e.g. {"set_state"}) — a test's own reads then do not
        use up the failures meant for the actors."""
        failure = error or ControlPlaneUnavailable("memory: simulated outage")
        with self._lock:
            self._failures += [(failure, None if only is None else frozenset(only))] * count

    def heal(self) -> None:
        """End a simulated outage: drop the failures `fail_next` still holds."""
        with self._lock:
            self._failures.clear()

    def _enter(self, name: str) -> None:
        if self._closed:
            raise ControlPlaneError("memory: the control plane is closed")
        self.calls.append(name)
        for index, (failure, only) in enumerate(self._failures):
            if only is None or name in only:
                del self._failures[index]
                raise failure

    def _now(self) -> datetime:
        return utc(self._clock.now())

    def _record(self, run_id: uuid.UUID) -> _Record:
        record = self._runs.get(run_id)
        if record is None:
            raise RunNotFound(f"no run with id {run_id}")
        return record

    def _deployment(self, name: str) -> _Deployment:
        deployment = self._deployments.get(name)
        if deployment is None:
            raise DeploymentNotFound(f"no deployment named {name!r}")
        return deployment

    def _shown(self, run: Run, now: datetime) -> Run:
        deployment = self._deployments.get(run.deployment)
        late_after = deployment.settings.late_after if deployment else None
        shown = rules.shown_state(run.state, run.scheduled_time, now, late_after)
        return run if shown is run.state else run.model_copy(update={"state": shown})

    def _add_run(self, name: str, parameters: Mapping[str, Any], when: datetime,
                 auto: bool) -> Run:
        now = self._now()
        state = State(type=StateType.SCHEDULED, timestamp=now)
        run = Run(id=uuid.uuid4(), deployment=name, parameters=dict(parameters), state=state,
                  scheduled_time=when)
        self._runs[run.id] = _Record(run=run, auto=auto, seq=next(self._seq), states=[state])
        return run

    def _drop_unclaimed(self, name: str, after: datetime | None = None) -> None:
        for run_id, record in list(self._runs.items()):
            run = record.run
            if (run.deployment == name and record.auto and run.state.type is StateType.SCHEDULED
                    and (after is None or run.scheduled_time > after)):
                del self._runs[run_id]

    def _auto_slots(self, name: str) -> set[datetime]:
        return {r.run.scheduled_time for r in self._runs.values()
                if r.auto and r.run.deployment == name}

    def _materialise(self, names: Collection[str], until: datetime) -> None:
        taken = {(r.run.deployment, r.run.scheduled_time) for r in self._runs.values() if r.auto}
        for name in names:
            deployment = self._deployments.get(name)
            if (deployment is None or deployment.paused or deployment.next_slot is None
                    or deployment.next_slot > until):
                continue
            new, deployment.cursor, deployment.next_slot = rules.plan_slots(
                deployment.settings, deployment.cursor, until)
            for slot in new:
                if (name, slot) not in taken:
                    self._add_run(name, deployment.settings.parameters, slot, auto=True)

    def _apply(self, record: _Record, state: State, updates: dict[str, Any]) -> None:
        record.run = record.run.model_copy(update={"state": state, **updates})
        record.states.append(state)

    # -- the port (every method runs under the lock, after _enter) -------------------------

    @_port
    def register_deployments(self, deployments: Sequence[DeploymentSettings]) -> None:
        now = self._now()
        for settings in deployments:
            key = rules.schedule_key(settings)
            old = self._deployments.get(settings.name)
            if old is not None and old.key == key:
                old.settings = settings
                if not old.paused and old.cursor < now:  # missed slots coalesce (rules.py)
                    missed = rules.missed_slot(settings, old.cursor, now)
                    if missed is not None and missed not in self._auto_slots(settings.name):
                        self._add_run(settings.name, settings.parameters, missed, auto=True)
                    old.cursor, old.next_slot = now, next_slot(settings, now)
                continue
            self._deployments[settings.name] = _Deployment(
                settings=settings, key=key, cursor=now, next_slot=next_slot(settings, now),
                paused=old.paused if old else False)
            if old is not None:
                self._drop_unclaimed(settings.name, after=now)

    @_port
    def read_deployments(self) -> list[DeploymentInfo]:
        self._materialise(list(self._deployments), self._now())
        infos = []
        for name in sorted(self._deployments):
            deployment = self._deployments[name]
            times = [r.run.scheduled_time for r in self._runs.values()
                     if r.run.deployment == name and r.run.state.type is StateType.SCHEDULED]
            if deployment.next_slot is not None:
                times.append(deployment.next_slot)
            infos.append(DeploymentInfo(
                name=name, schedule=describe(deployment.settings),
                next_run_time=None if deployment.paused or not times else min(times),
                paused=deployment.paused, tags=deployment.settings.tags))
        return infos

    @_port
    def set_paused(self, deployment: str, paused: bool) -> None:
        found = self._deployment(deployment)
        if found.paused == paused:
            return
        found.paused = paused
        if paused:
            self._drop_unclaimed(deployment)
        else:
            found.cursor = max(found.cursor, self._now())
            found.next_slot = next_slot(found.settings, found.cursor)

    @_port
    def create_run(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
    ) -> Run:
        settings = self._deployment(deployment).settings
        when = utc(scheduled_time) if scheduled_time is not None else self._now()
        run = self._add_run(deployment, {**settings.parameters, **(parameters or {})}, when,
                            auto=False)
        return self._shown(run, self._now())

    @_port
    def read_scheduled_runs(
        self, deployments: Collection[str], before: datetime, limit: int
    ) -> list[Run]:
        names, before = set(deployments), utc(before)
        self._materialise(names, before)
        due = sorted(
            (r for r in self._runs.values()
             if r.run.deployment in names and r.run.state.type is StateType.SCHEDULED
             and r.run.scheduled_time <= before
             and not self._deployments[r.run.deployment].paused),
            key=lambda r: (r.run.scheduled_time, r.seq))
        now = self._now()
        return [self._shown(r.run, now) for r in due[:max(limit, 0)]]

    @_port
    def read_cancelling_runs(self, run_ids: Collection[uuid.UUID]) -> list[Run]:
        now = self._now()
        return [self._shown(self._runs[i].run, now) for i in dict.fromkeys(run_ids)
                if i in self._runs and self._runs[i].run.state.type is StateType.CANCELLING]

    @_port
    def read_run(self, run_id: uuid.UUID) -> Run:
        return self._shown(self._record(run_id).run, self._now())

    @_port
    def read_runs(
        self,
        *,
        deployment: str | None = None,
        states: Collection[StateType] | None = None,
        supervisor: str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        wanted = None if states is None else {StateType(s) for s in states}
        found = [r for r in self._runs.values()
                 if (deployment is None or r.run.deployment == deployment)
                 and (wanted is None or r.run.state.type in wanted)
                 and (supervisor is None or r.run.supervisor == supervisor)]
        found.sort(key=lambda r: (r.run.scheduled_time, r.seq), reverse=True)
        now = self._now()
        return [self._shown(r.run, now) for r in found[:max(limit, 0)]]

    @_port
    def read_states(self, run_id: uuid.UUID) -> list[State]:
        return list(self._record(run_id).states)

    @_port
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
        record = self._record(run_id)
        if idempotency_key is not None and idempotency_key in record.keys:
            return record.keys[idempotency_key]
        proposed = state.model_copy(update={"timestamp": utc(state.timestamp)})
        status, reason = rules.decide(record.run.state.type, proposed.type, force)
        if status is not OrchestrationStatus.ACCEPT:
            return rules.result(status, record.run.state, reason)
        if proposed.type is StateType.PENDING and not force:
            refused = self._over_concurrency(record, proposed)
            if refused is not None:
                return refused
        self._apply(record, proposed, rules.run_updates(
            proposed, supervisor=supervisor, pid=pid, exit_code=exit_code, commit=commit,
            scheduled_time=scheduled_time, run_count=record.run.run_count))
        if scheduled_time is not None and proposed.type is StateType.SCHEDULED:
            record.auto = False  # a retry leaves its schedule slot (as the local plane does)
        answer = rules.result(status, proposed)
        if idempotency_key is not None:
            record.keys[idempotency_key] = answer
        return answer

    def _over_concurrency(self, record: _Record, claim: State) -> OrchestrationResult | None:
        deployment = self._deployments.get(record.run.deployment)
        if deployment is None or deployment.settings.concurrency is None:
            return None
        in_flight = sum(1 for r in self._runs.values() if r.run.deployment == record.run.deployment
                        and r.run.state.type in IN_FLIGHT_STATES)
        verdict = rules.over_concurrency(deployment.settings, in_flight)
        if verdict is None:
            return None
        status, reason, delay = verdict
        if status is OrchestrationStatus.ABORT:  # cancel-new
            cancelled = State(type=StateType.CANCELLED, message=reason, timestamp=claim.timestamp)
            self._apply(record, cancelled, rules.run_updates(
                cancelled, supervisor=None, pid=None, exit_code=None, commit=None))
        return OrchestrationResult(status=status, state=record.run.state, reason=reason,
                                   retry_after=delay)

    @_port
    def request_cancel(self, run_id: uuid.UUID) -> Run:
        record = self._record(run_id)
        target = rules.cancel_target(record.run.state.type)
        if target is not None:
            message = ("cancel requested" if target is StateType.CANCELLING
                       else "cancelled before it started")
            state = State(type=target, message=message, timestamp=self._now())
            self._apply(record, state, rules.run_updates(
                state, supervisor=None, pid=None, exit_code=None, commit=None))
        return self._shown(record.run, self._now())

    def close(self) -> None:
        with self._lock:
            self._closed = True
