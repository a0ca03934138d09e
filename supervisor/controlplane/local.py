"""The `local` adapter: the embedded control plane in one SQLite file (WAL mode).

Shared by a supervisor (many threads) and any number of CLI processes at once. In-process, one
connection behind a lock: threads hand over in microseconds instead of meeting SQLite's busy
handler (which sleeps in steps of 1 to 100 ms). Across processes, every write is one
`BEGIN IMMEDIATE` transaction, so a claim (SCHEDULED → PENDING) is atomic; a busy database is
waited for (busy_timeout), retried a few times, then reported as ControlPlaneUnavailable.
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
from supervisor.controlplane import sqlite_rows as rows
from supervisor.controlplane import sqlite_schema
from supervisor.controlplane.rules import (
    cancel_target,
    decide,
    plan_slots,
    result,
    run_updates,
    schedule_key,
    utc,
)
from supervisor.errors import (
    ControlPlaneError,
    ControlPlaneUnavailable,
    DatabaseError,
    DeploymentNotFound,
    RunNotFound,
)
from supervisor.models import (
    DeploymentInfo,
    OrchestrationResult,
    OrchestrationStatus,
    Run,
    State,
    StateType,
)
from supervisor.schedules import describe, next_slot
from supervisor.settings import DeploymentSettings

T = TypeVar("T")
_CHUNK = 500  # ids per IN (...) query


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
            stop=tenacity.stop_after_attempt(3),
            wait=tenacity.wait_random_exponential(multiplier=0.01, max=0.25),
            reraise=True,
        )
        self._conn: sqlite3.Connection | None = None
        self._conn = self._guard(lambda: sqlite_schema.connect(self.path))

    # -- plumbing --------------------------------------------------------------------------

    def _guard(self, fn: Callable[[], T]) -> T:
        """Run `fn` with busy retries; turn SQLite's errors into the port's."""
        try:
            return self._retrying(fn)
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise ControlPlaneUnavailable(
                    f"{self.path}: database stayed busy (another process is writing); try again"
                ) from None
            if "unable to open" in str(exc):
                raise DatabaseError(f"{self.path}: cannot open the database ({exc})") from None
            raise ControlPlaneUnavailable(f"{self.path}: {exc}") from None
        except sqlite3.DatabaseError as exc:
            raise DatabaseError(f"{self.path}: {exc}") from None

    def _txn(self, fn: Callable[[sqlite3.Connection], T], *, write: bool) -> T:
        def attempt() -> T:
            conn = self._conn
            if conn is None:
                raise ControlPlaneError(f"{self.path}: the control plane is closed")
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                value = fn(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return value

        with self._lock:
            return self._guard(attempt)

    def _now(self) -> datetime:
        return utc(self._clock.now())

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- deployments -----------------------------------------------------------------------

    def register_deployments(self, deployments: Sequence[DeploymentSettings]) -> None:
        now = self._now()

        def upsert(conn: sqlite3.Connection) -> None:
            for deployment in deployments:
                key = schedule_key(deployment)
                old = conn.execute(
                    "SELECT schedule_key FROM deployments WHERE name = ?", (deployment.name,)
                ).fetchone()
                if old is not None and old[0] == key:
                    conn.execute("UPDATE deployments SET settings = ? WHERE name = ?",
                                 (deployment.model_dump_json(), deployment.name))
                    continue
                nxt = next_slot(deployment, now)
                conn.execute(
                    "INSERT INTO deployments (name, settings, schedule_key, registered_at, cursor,"
                    " next_slot) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
                    " settings = excluded.settings, schedule_key = excluded.schedule_key,"
                    " registered_at = excluded.registered_at, cursor = excluded.cursor,"
                    " next_slot = excluded.next_slot",
                    (deployment.name, deployment.model_dump_json(), key, rows.ts(now),
                     rows.ts(now), None if nxt is None else rows.ts(nxt)),
                )
                if old is not None:  # the schedule changed: its future unclaimed slots go
                    rows.delete_unclaimed_auto_runs(conn, deployment.name, after=now)

        self._txn(upsert, write=True)

    def read_deployments(self) -> list[DeploymentInfo]:
        now = self._now()
        self._materialise(None, now)

        def read(conn: sqlite3.Connection) -> list[DeploymentInfo]:
            infos = []
            for name, text, paused, nxt, first_run in conn.execute(
                "SELECT name, settings, paused, next_slot, (SELECT min(scheduled_time) FROM runs"
                " WHERE deployment = d.name AND state_type = 'SCHEDULED') FROM deployments d"
                " ORDER BY name"
            ):
                settings = rows.settings_from_json(text)
                times = [t for t in (nxt, first_run) if t is not None]
                infos.append(DeploymentInfo(
                    name=name,
                    schedule=describe(settings),
                    next_run_time=None if paused or not times else rows.from_ts(min(times)),
                    paused=bool(paused),
                    tags=settings.tags,
                ))
            return infos

        return self._txn(read, write=False)

    def set_paused(self, deployment: str, paused: bool) -> None:
        now = self._now()

        def update(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT settings, paused, cursor FROM deployments WHERE name = ?", (deployment,)
            ).fetchone()
            if row is None:
                raise DeploymentNotFound(f"no deployment named {deployment!r}")
            if bool(row[1]) == paused:
                return
            if paused:  # slots are not kept while paused: resuming does not fire a backlog
                conn.execute("UPDATE deployments SET paused = 1 WHERE name = ?", (deployment,))
                rows.delete_unclaimed_auto_runs(conn, deployment)
                return
            cursor = max(rows.from_ts(row[2]) or now, now)
            nxt = next_slot(rows.settings_from_json(row[0]), cursor)
            conn.execute(
                "UPDATE deployments SET paused = 0, cursor = ?, next_slot = ? WHERE name = ?",
                (rows.ts(cursor), None if nxt is None else rows.ts(nxt), deployment),
            )

        self._txn(update, write=True)

    def _materialise(self, names: Collection[str] | None, until: datetime) -> None:
        """Create the auto runs of schedule slots up to `until`. A read-only check first, so a
        poll with nothing due takes no write lock."""
        query = "SELECT name FROM deployments WHERE paused = 0 AND next_slot <= ?"
        args: list[Any] = [rows.ts(until)]
        if names is not None:
            query += f" AND name IN ({','.join('?' * len(names))})"
            args += list(names)

        def due(conn: sqlite3.Connection) -> list[str]:
            return [row[0] for row in conn.execute(query, args)]

        if not self._txn(due, write=False):
            return

        def create(conn: sqlite3.Connection) -> None:
            now = self._now()
            for name, text, cursor in conn.execute(
                query.replace("SELECT name", "SELECT name, settings, cursor"), args
            ).fetchall():
                settings = rows.settings_from_json(text)
                new, new_cursor, nxt = plan_slots(settings, rows.from_ts(cursor) or now, until)
                for slot in new:
                    rows.insert_run(conn, name, settings.parameters, slot,
                                    State(type=StateType.SCHEDULED, timestamp=now), auto=True)
                conn.execute(
                    "UPDATE deployments SET cursor = ?, next_slot = ? WHERE name = ?",
                    (rows.ts(new_cursor), None if nxt is None else rows.ts(nxt), name),
                )

        self._txn(create, write=True)

    # -- runs ------------------------------------------------------------------------------

    def create_run(
        self,
        deployment: str,
        parameters: Mapping[str, Any] | None = None,
        scheduled_time: datetime | None = None,
    ) -> Run:
        now = self._now()

        def create(conn: sqlite3.Connection) -> Run:
            row = conn.execute(
                "SELECT settings FROM deployments WHERE name = ?", (deployment,)
            ).fetchone()
            if row is None:
                raise DeploymentNotFound(f"no deployment named {deployment!r}")
            merged = {**rows.settings_from_json(row[0]).parameters, **(parameters or {})}
            when = utc(scheduled_time) if scheduled_time is not None else now
            state = State(type=StateType.SCHEDULED, timestamp=now)
            run_id = rows.insert_run(conn, deployment, merged, when, state, auto=False)
            return rows.run_from_row(rows.select_run(conn, uuid.UUID(run_id)), now)  # type: ignore[arg-type]

        return self._txn(create, write=True)

    def read_scheduled_runs(
        self, deployments: Collection[str], before: datetime, limit: int
    ) -> list[Run]:
        names = list(dict.fromkeys(deployments))
        if not names or limit <= 0:
            return []
        before = utc(before)
        self._materialise(names, before)
        now = self._now()

        def read(conn: sqlite3.Connection) -> list[Run]:
            cols = ", ".join(f"r.{c.strip()}" for c in rows.RUN_COLUMNS.split(","))
            found = conn.execute(
                f"SELECT {cols} FROM runs r JOIN deployments d ON d.name = r.deployment"
                f" WHERE r.state_type = 'SCHEDULED' AND r.scheduled_time <= ? AND d.paused = 0"
                f" AND r.deployment IN ({','.join('?' * len(names))})"
                f" ORDER BY r.scheduled_time, r.seq LIMIT ?",
                (rows.ts(before), *names, limit),
            )
            return [rows.run_from_row(row, now) for row in found]

        return self._txn(read, write=False)

    def read_cancelling_runs(self, run_ids: Collection[uuid.UUID]) -> list[Run]:
        ids = [str(run_id) for run_id in dict.fromkeys(run_ids)]
        now = self._now()

        def read(conn: sqlite3.Connection) -> list[Run]:
            out: list[Run] = []
            for start in range(0, len(ids), _CHUNK):
                chunk = ids[start:start + _CHUNK]
                out += [rows.run_from_row(row, now) for row in conn.execute(
                    f"SELECT {rows.RUN_COLUMNS} FROM runs WHERE state_type = 'CANCELLING'"
                    f" AND id IN ({','.join('?' * len(chunk))})", chunk)]
            return out

        return self._txn(read, write=False) if ids else []

    def read_run(self, run_id: uuid.UUID) -> Run:
        now = self._now()

        def read(conn: sqlite3.Connection) -> Run:
            row = rows.select_run(conn, run_id)
            if row is None:
                raise RunNotFound(f"no run with id {run_id}")
            return rows.run_from_row(row, now)

        return self._txn(read, write=False)

    def read_runs(
        self,
        *,
        deployment: str | None = None,
        states: Collection[StateType] | None = None,
        supervisor: str | None = None,
        limit: int = 100,
    ) -> list[Run]:
        where, args = ["1"], []
        if deployment is not None:
            where.append("deployment = ?")
            args.append(deployment)
        if states is not None:
            where.append(f"state_type IN ({','.join('?' * len(states))})")
            args += [StateType(s).value for s in states]
        if supervisor is not None:
            where.append("supervisor = ?")
            args.append(supervisor)
        now = self._now()

        def read(conn: sqlite3.Connection) -> list[Run]:
            found = conn.execute(
                f"SELECT {rows.RUN_COLUMNS} FROM runs WHERE {' AND '.join(where)}"
                " ORDER BY scheduled_time DESC, seq DESC LIMIT ?", (*args, max(limit, 0)))
            return [rows.run_from_row(row, now) for row in found]

        return self._txn(read, write=False)

    def read_states(self, run_id: uuid.UUID) -> list[State]:
        def read(conn: sqlite3.Connection) -> list[State]:
            if rows.select_run(conn, run_id) is None:
                raise RunNotFound(f"no run with id {run_id}")
            return [rows.state_from_row(row) for row in conn.execute(
                "SELECT type, name, message, timestamp FROM states WHERE run_id = ? ORDER BY seq",
                (str(run_id),))]

        return self._txn(read, write=False)

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
    ) -> OrchestrationResult:
        state = state.model_copy(update={"timestamp": utc(state.timestamp)})

        def propose(conn: sqlite3.Connection) -> OrchestrationResult:
            row = rows.select_run(conn, run_id)
            if row is None:
                raise RunNotFound(f"no run with id {run_id}")
            if idempotency_key is not None:
                done = conn.execute(
                    "SELECT result FROM applied_keys WHERE run_id = ? AND key = ?",
                    (str(run_id), idempotency_key),
                ).fetchone()
                if done is not None:
                    return OrchestrationResult.model_validate_json(done[0])
            current = rows.state_from_row(row[4:8])
            status, reason = decide(current.type, state.type, force)
            if status is not OrchestrationStatus.ACCEPT:
                return result(status, current, reason)
            updates = run_updates(state, supervisor=supervisor, pid=pid, exit_code=exit_code,
                                  commit=commit)
            rows.update_state(conn, str(run_id), state, updates)
            answer = result(status, state)
            if idempotency_key is not None:
                conn.execute("INSERT INTO applied_keys (run_id, key, result) VALUES (?, ?, ?)",
                             (str(run_id), idempotency_key, answer.model_dump_json()))
            return answer

        return self._txn(propose, write=True)

    def request_cancel(self, run_id: uuid.UUID) -> Run:
        now = self._now()

        def cancel(conn: sqlite3.Connection) -> Run:
            row = rows.select_run(conn, run_id)
            if row is None:
                raise RunNotFound(f"no run with id {run_id}")
            target = cancel_target(StateType(row[4]))
            if target is not None:
                message = ("cancel requested" if target is StateType.CANCELLING
                           else "cancelled before it started")
                state = State(type=target, message=message, timestamp=now)
                updates = run_updates(state, supervisor=None, pid=None, exit_code=None,
                                      commit=None)
                rows.update_state(conn, str(run_id), state, updates)
                row = rows.select_run(conn, run_id)
            return rows.run_from_row(row, now)  # type: ignore[arg-type]

        return self._txn(cancel, write=True)
