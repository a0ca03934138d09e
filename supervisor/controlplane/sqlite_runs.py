"""Runs in the local control plane: create, read, propose a state, request a cancel.

Each function runs inside the caller's transaction (see `LocalControlPlane._txn`); the rules
come from rules.py, shared with the memory fake.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from supervisor.controlplane import sqlite_rows as rows
from supervisor.controlplane.rules import (
    cancel_target,
    decide,
    over_concurrency,
    result,
    run_updates,
    utc,
)
from supervisor.controlplane.sqlite_deployments import settings_of
from supervisor.errors import RunNotFound
from supervisor.models import OrchestrationResult, OrchestrationStatus, Run, State, StateType


def _row(conn: sqlite3.Connection, run_id: uuid.UUID) -> tuple[Any, ...]:
    row = rows.select_run(conn, run_id)
    if row is None:
        raise RunNotFound(f"no run with id {run_id}")
    return row


def create(conn: sqlite3.Connection, deployment: str, parameters: Mapping[str, Any] | None,
           when: datetime, now: datetime) -> Run:
    merged = {**settings_of(conn, deployment).parameters, **(parameters or {})}
    state = State(type=StateType.SCHEDULED, timestamp=now)
    run_id = rows.insert_run(conn, deployment, merged, when, state, auto=False)
    assert run_id is not None  # only auto runs can collide
    return rows.run_from_row(_row(conn, uuid.UUID(run_id)), now)


def one(conn: sqlite3.Connection, run_id: uuid.UUID, now: datetime) -> Run:
    return rows.run_from_row(_row(conn, run_id), now)


def scheduled(conn: sqlite3.Connection, names: list[str], before: datetime, limit: int,
              now: datetime) -> list[Run]:
    """SCHEDULED runs of unpaused `names` due at or before `before`, oldest first."""
    found = conn.execute(
        f"SELECT {rows.RUN_COLUMNS} FROM runs r JOIN deployments d ON d.name = r.deployment"
        f" WHERE r.state_type = 'SCHEDULED' AND r.scheduled_time <= ? AND d.paused = 0"
        f" AND r.deployment IN ({','.join('?' * len(names))})"
        f" ORDER BY r.scheduled_time, r.seq LIMIT ?",
        (rows.ts(before), *names, limit),
    )
    return [rows.run_from_row(row, now) for row in found]


def cancelling(conn: sqlite3.Connection, ids: Collection[uuid.UUID], now: datetime) -> list[Run]:
    """The CANCELLING runs among `ids`: one read of the CANCELLING runs (the runs_due index),
    not a look-up per id. Few runs are cancelling at once while thousands may be in flight:
    5,000 ids in chunks of 500 cost ~15 ms a poll, every 0.5 s, on an idle supervisor."""
    found = conn.execute(
        f"SELECT {rows.RUN_COLUMNS} FROM runs WHERE state_type = 'CANCELLING'")
    return [rows.run_from_row(row, now) for row in found if uuid.UUID(row[0]) in ids]


def many(conn: sqlite3.Connection, deployment: str | None,
         states: Collection[StateType] | None, supervisor: str | None, limit: int,
         now: datetime) -> list[Run]:
    """Newest first by scheduled time (then by creation)."""
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
    found = conn.execute(
        f"SELECT {rows.RUN_COLUMNS} FROM runs WHERE {' AND '.join(where)}"
        " ORDER BY scheduled_time DESC, seq DESC LIMIT ?", (*args, max(limit, 0)))
    return [rows.run_from_row(row, now) for row in found]


def states(conn: sqlite3.Connection, run_id: uuid.UUID) -> list[State]:
    _row(conn, run_id)
    return [rows.state_from_row(row) for row in conn.execute(
        "SELECT type, name, message, timestamp FROM states WHERE run_id = ? ORDER BY seq",
        (str(run_id),))]


def propose(conn: sqlite3.Connection, run_id: uuid.UUID, state: State, *, force: bool,
            idempotency_key: str | None, fields: dict[str, Any]) -> OrchestrationResult:
    """Orchestrate a proposed state; on ACCEPT apply it with `fields` (supervisor, pid, ...)."""
    row = _row(conn, run_id)
    if idempotency_key is not None:
        done = conn.execute("SELECT result FROM applied_keys WHERE run_id = ? AND key = ?",
                            (str(run_id), idempotency_key)).fetchone()
        if done is not None:
            return OrchestrationResult.model_validate_json(done[0])
    current = rows.state_from_row(row[4:8])
    status, reason = decide(current.type, state.type, force)
    if status is not OrchestrationStatus.ACCEPT:
        return result(status, current, reason)
    if state.type is StateType.PENDING and not force:
        refused = _over_concurrency(conn, run_id, row[1], current, utc(state.timestamp))
        if refused is not None:
            return refused
    rows.update_state(conn, str(run_id), state, run_updates(state, **fields, run_count=row[14]))
    answer = result(status, state)
    if idempotency_key is not None:
        conn.execute("INSERT INTO applied_keys (run_id, key, result) VALUES (?, ?, ?)",
                     (str(run_id), idempotency_key, answer.model_dump_json()))
    return answer


def _over_concurrency(conn: sqlite3.Connection, run_id: uuid.UUID, deployment: str,
                      current: State, now: datetime) -> OrchestrationResult | None:
    """A claim past the deployment's concurrency: WAIT, or the run CANCELLED (cancel-new)."""
    settings = settings_of(conn, deployment)
    if settings.concurrency is None:
        return None
    (in_flight,) = conn.execute(
        "SELECT count(*) FROM runs WHERE deployment = ? AND state_type IN"
        " ('PENDING', 'RUNNING', 'CANCELLING')", (deployment,)).fetchone()
    verdict = over_concurrency(settings, in_flight)
    if verdict is None:
        return None
    status, reason, delay = verdict
    if status is OrchestrationStatus.ABORT:
        current = State(type=StateType.CANCELLED, message=reason, timestamp=now)
        rows.update_state(conn, str(run_id), current, run_updates(
            current, supervisor=None, pid=None, exit_code=None, commit=None))
    return OrchestrationResult(status=status, state=current, reason=reason, retry_after=delay)


def cancel(conn: sqlite3.Connection, run_id: uuid.UUID, now: datetime) -> Run:
    """Not started: CANCELLED at once; RUNNING: CANCELLING; otherwise unchanged."""
    target = cancel_target(StateType(_row(conn, run_id)[4]))
    if target is not None:
        message = ("cancel requested" if target is StateType.CANCELLING
                   else "cancelled before it started")
        state = State(type=target, message=message, timestamp=now)
        rows.update_state(conn, str(run_id), state, run_updates(
            state, supervisor=None, pid=None, exit_code=None, commit=None))
    return one(conn, run_id, now)
