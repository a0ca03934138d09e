"""The `local` adapter: the embedded control plane in one SQLite file (WAL mode).

Shared by a supervisor (many threads) and any number of CLI processes at once. In-process, one
connection behind a lock: threads hand over in microseconds instead of meeting SQLite's busy
handler (which sleeps in steps of 1 to 100 ms). Across processes, every write is one
`BEGIN IMMEDIATE` transaction, so a claim (SCHEDULED → PENDING) is atomic; a busy database is
waited for (busy_timeout), retried a few times, then reported as ControlPlaneUnavailable.

Schedules are materialised when read (`read_scheduled_runs` up to `before`, `read_deployments`
up to now) from a per-deployment cursor: every slot at or before it exists as a run, so slots
are made once, and a UNIQUE (deployment, slot) index settles two processes racing. A new or
changed schedule starts at its registration; an unchanged one re-registered (a supervisor start)
after nobody read it for a while turns the missed slots into one late run (`rules.missed_slot`).
Pausing drops the unclaimed schedule runs; resuming starts from then (no backlog).

Durability: WAL with synchronous=NORMAL: a crash of any process loses nothing committed; a power
cut may lose the last transactions (about 1 ms per write instead of several).
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Callable, Collection, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import tenacity

from supervisor.clock import Clock
from supervisor.controlplane import sqlite_deployments, sqlite_schema
from supervisor.controlplane import sqlite_runs as runs
from supervisor.controlplane.batch import Answered, Outcome, Proposal, propose_each
from supervisor.controlplane.rules import utc
from supervisor.controlplane.sqlite_group import GroupCommit
from supervisor.controlplane.sqlite_rows import StoredSettingsInvalid
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable, DatabaseError
from supervisor.models import DeploymentInfo, OrchestrationResult, Run, State, StateType
from supervisor.settings import DeploymentSettings

T = TypeVar("T")


def _is_busy(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and (
        "locked" in str(exc) or "busy" in str(exc)
    )


class LocalControlPlane:
    """The ControlPlane port on a SQLite file; creates the file (and its folder) if missing."""

    def __init__(self, path: str | Path, *, clock: Clock | None = None) -> None:
        self.path = Path(path)
        self._clock = clock or Clock()
        self._lock = threading.Lock()
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_busy),
            stop=tenacity.stop_after_attempt(2),  # after the plain first attempt (_guard)
            wait=tenacity.wait_random_exponential(multiplier=0.01, max=0.25),
            reraise=True,
        )
        self._conn: sqlite3.Connection | None = None
        self._conn = self._guard(lambda: sqlite_schema.connect(self.path))
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None  # opened at the first read
        self._closed = False
        self._group = GroupCommit(self._lock)  # claims arriving together: one transaction

    # -- plumbing --------------------------------------------------------------------------

    def _guard(self, fn: Callable[[], T]) -> T:
        """Run `fn` with busy retries; turn SQLite's errors into the port's. The first attempt
        is a plain call: tenacity's bookkeeping cost ~25 us a transaction, three a run."""
        try:
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc):
                    raise
            return self._retrying(fn)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise ControlPlaneUnavailable(
                    f"{self.path}: database stayed busy (another process is writing); try again"
                ) from None
            if "unable to open" in str(exc) or "readonly" in str(exc):
                raise DatabaseError(f"{self.path}: cannot open the database ({exc})") from None
            raise ControlPlaneUnavailable(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path}: {exc}") from None
        except StoredSettingsInvalid as exc:
            raise DatabaseError(f"{self.path}: {exc}") from None

    def _txn(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        """Writes on one connection, reads on another (WAL: a reader never waits for a writer),
        each behind its own lock: a long read (5,000 runs due) does not hold up a claim."""

        if write:
            with self._lock:
                return self._locked_write(fn)

        def attempt() -> T:
            conn = self._read_connection()
            if conn is None:
                raise ControlPlaneError(f"{self.path}: the control plane is closed")
            conn.execute("BEGIN")
            try:
                value = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return value

        with self._read_lock:
            return self._guard(attempt)

    def _locked_write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """One write transaction; the caller holds the write lock (group commit)."""

        def attempt() -> T:
            conn = self._conn
            if conn is None:
                raise ControlPlaneError(f"{self.path}: the control plane is closed")
            conn.execute("BEGIN IMMEDIATE")
            try:
                value = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return value

        return self._guard(attempt)

    def _read_connection(self) -> sqlite3.Connection | None:
        if self._reader is None and not self._closed:
            self._reader = sqlite_schema.connect(self.path)
        return self._reader

    def _now(self) -> datetime:
        return utc(self._clock.now())

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._closed = True
            for conn in (self._conn, self._reader):
                if conn is not None:
                    conn.close()
            self._conn = self._reader = None

    # -- deployments -----------------------------------------------------------------------

    def register_deployments(self, deployments: Sequence[DeploymentSettings]) -> None:
        now = self._now()
        self._txn(lambda conn: sqlite_deployments.upsert(conn, deployments, now), write=True)

    def read_deployments(self) -> list[DeploymentInfo]:
        self._materialise(None, self._now())
        return self._txn(sqlite_deployments.infos, write=False)

    def set_paused(self, deployment: str, paused: bool) -> None:
        now = self._now()
        self._txn(lambda conn: sqlite_deployments.set_paused(conn, deployment, paused, now),
                  write=True)

    def _materialise(self, names: Collection[str] | None, until: datetime) -> None:
        """Create the runs of schedule slots up to `until`; a read first, so a poll with
        nothing due takes no write lock."""
        if self._txn(lambda conn: sqlite_deployments.any_due(conn, names, until), write=False):
            self._txn(lambda conn: sqlite_deployments.materialise(
                conn, names, until, self._now()), write=True)

    # -- runs ------------------------------------------------------------------------------

    def create_run(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
    ) -> Run:
        now = self._now()
        when = utc(scheduled_time) if scheduled_time is not None else now
        return self._txn(lambda c: runs.create(c, deployment, parameters, when, now), write=True)

    def read_scheduled_runs(
        self, deployments: Collection[str], before: datetime, limit: int
    ) -> list[Run]:
        names = list(dict.fromkeys(deployments))
        if not names or limit <= 0:
            return []
        before = utc(before)
        self._materialise(names, before)
        now = self._now()
        return self._txn(lambda c: runs.scheduled(c, names, before, limit, now), write=False)

    def read_cancelling_runs(self, run_ids: Collection[uuid.UUID]) -> list[Run]:
        ids = run_ids if isinstance(run_ids, frozenset | set) else frozenset(run_ids)
        now = self._now()
        return self._txn(lambda c: runs.cancelling(c, ids, now), write=False) if ids else []

    def read_run(self, run_id: uuid.UUID) -> Run:
        now = self._now()
        return self._txn(lambda c: runs.one(c, run_id, now), write=False)

    def read_runs(
        self,
        *,
        deployment: str | None = None,
        states: Collection[StateType] | None = None,
        supervisor: str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        now = self._now()
        return self._txn(
            lambda c: runs.many(c, deployment, states, supervisor, limit, now), write=False)

    def read_states(self, run_id: uuid.UUID) -> list[State]:
        return self._txn(lambda c: runs.states(c, run_id), write=False)

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
        state = state.model_copy(update={"timestamp": utc(state.timestamp)})
        fields = {"supervisor": supervisor, "pid": pid, "exit_code": exit_code, "commit": commit,
                  "scheduled_time": scheduled_time}
        return self._group.write(lambda c: runs.propose(
            c, run_id, state, force=force, idempotency_key=idempotency_key, fields=fields),
            self._locked_write)

    def set_states(self, proposals: Sequence[Proposal]) -> Answered:
        """Every proposal in order, in one transaction: all are answered, or (busy, locked)
        none is applied. A subclass that wraps `set_state` (fault injection, a recorder) is
        given each proposal through it instead."""
        if type(self).set_state is not LocalControlPlane.set_state and (
            type(self).set_states is LocalControlPlane.set_states
        ):
            return propose_each(self.set_state, proposals)

        def apply(conn: sqlite3.Connection) -> list[Outcome]:
            outcomes: list[Outcome] = []
            for p in proposals:
                state = p.state.model_copy(update={"timestamp": utc(p.state.timestamp)})
                fields = {"supervisor": p.supervisor, "pid": p.pid, "exit_code": p.exit_code,
                          "commit": p.commit, "scheduled_time": p.scheduled_time}
                try:
                    outcomes.append(runs.propose(conn, p.run_id, state, force=p.force,
                                                 idempotency_key=p.idempotency_key, fields=fields))
                except ControlPlaneError as exc:  # RunNotFound, raised before any write
                    outcomes.append(exc)
            return outcomes

        try:
            return self._txn(apply, write=True), None
        except ControlPlaneUnavailable as exc:
            return [], exc

    def request_cancel(self, run_id: uuid.UUID) -> Run:
        now = self._now()
        return self._txn(lambda c: runs.cancel(c, run_id, now), write=True)
