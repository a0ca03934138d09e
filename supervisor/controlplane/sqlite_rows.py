"""Rows ↔ domain values for the local control plane (see sqlite_schema for the tables)."""

from __future__ import annotations

import functools
import json
import sqlite3
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from supervisor.controlplane.rules import shown_state, utc
from supervisor.models import Run, State, StateType
from supervisor.settings import DeploymentSettings

RUN_COLUMNS = (
    "id, deployment, parameters, scheduled_time, state_type, state_name, state_message, "
    "state_timestamp, start_time, end_time, exit_code, pid, commit_sha, supervisor, run_count, "
    "(SELECT json_extract(dl.settings, '$.late_after') FROM deployments dl"
    " WHERE dl.name = deployment)"
)
"""The last column is the deployment's `late_after` (for the "Late" name)."""
FIELD_COLUMNS = {"supervisor": "supervisor", "start_time": "start_time", "end_time": "end_time",
                 "pid": "pid", "exit_code": "exit_code", "commit": "commit_sha",
                 "scheduled_time": "scheduled_time", "run_count": "run_count"}
"""Run fields set by `rules.run_updates` → their columns."""


def ts(value: datetime) -> str:
    """Fixed-width UTC text: text order is time order."""
    return utc(value).isoformat(timespec="microseconds")


def from_ts(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class StoredSettingsInvalid(ValueError):
    """A deployment's stored settings no longer validate (written by another version)."""


@functools.lru_cache(maxsize=256)
def settings_from_json(text: str) -> DeploymentSettings:
    try:
        return DeploymentSettings.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "settings"
        raise StoredSettingsInvalid(
            f"stored settings of a deployment do not validate ({where}: {first['msg']});"
            " start the supervisor to register its deployments again") from None


def state_from_row(row: sqlite3.Row | tuple[Any, ...]) -> State:
    """A State from (type, name, message, timestamp)."""
    return State(type=StateType(row[0]), name=row[1], message=row[2],
                 timestamp=datetime.fromisoformat(row[3]))


def run_from_row(row: sqlite3.Row | tuple[Any, ...], now: datetime) -> Run:
    scheduled = datetime.fromisoformat(row[3])
    return Run(
        id=uuid.UUID(row[0]),
        deployment=row[1],
        parameters=json.loads(row[2]),
        scheduled_time=scheduled,
        state=shown_state(state_from_row(row[4:8]), scheduled, now, row[15]),
        start_time=from_ts(row[8]),
        end_time=from_ts(row[9]),
        exit_code=row[10],
        pid=row[11],
        commit=row[12],
        supervisor=row[13],
        run_count=row[14],
    )


def select_run(conn: sqlite3.Connection, run_id: uuid.UUID) -> tuple[Any, ...] | None:
    row: tuple[Any, ...] | None = conn.execute(
        f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (str(run_id),)
    ).fetchone()
    return row


def insert_state(conn: sqlite3.Connection, run_id: str, state: State) -> None:
    conn.execute(
        "INSERT INTO states (run_id, type, name, message, timestamp) VALUES (?, ?, ?, ?, ?)",
        (run_id, state.type.value, state.name, state.message, ts(state.timestamp)),
    )


def insert_run(
    conn: sqlite3.Connection,
    deployment: str,
    parameters: Mapping[str, Any],
    scheduled_time: datetime,
    state: State,
    *,
    auto: bool,
) -> str | None:
    """Insert a SCHEDULED run and its first state; None when an auto run's slot is taken."""
    run_id = str(uuid.uuid4())
    cursor = conn.execute(
        "INSERT OR IGNORE INTO runs (id, deployment, parameters, auto, scheduled_time, state_type,"
        " state_name, state_message, state_timestamp) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, deployment, json.dumps(dict(parameters)), int(auto), ts(scheduled_time),
         state.type.value, state.name, state.message, ts(state.timestamp)),
    )
    if cursor.rowcount != 1:
        return None
    insert_state(conn, run_id, state)
    return run_id


def update_state(
    conn: sqlite3.Connection, run_id: str, state: State, updates: Mapping[str, Any]
) -> None:
    """Move a run to `state`, set the run fields in `updates`, and keep the transition."""
    columns = ["state_type = ?", "state_name = ?", "state_message = ?", "state_timestamp = ?"]
    values: list[Any] = [state.type.value, state.name, state.message, ts(state.timestamp)]
    for field, value in updates.items():
        columns.append(f"{FIELD_COLUMNS[field]} = ?")
        values.append(ts(value) if isinstance(value, datetime) else value)
    if "scheduled_time" in updates:  # a retry leaves its schedule slot: never dropped, no clash
        columns.append("auto = 0")
    conn.execute(f"UPDATE runs SET {', '.join(columns)} WHERE id = ?", (*values, run_id))
    insert_state(conn, run_id, state)


def delete_unclaimed_auto_runs(
    conn: sqlite3.Connection, deployment: str, after: datetime | None = None
) -> None:
    """Drop schedule-made runs nobody claimed (all, or those due after `after`)."""
    where = "deployment = ? AND auto = 1 AND state_type = 'SCHEDULED'"
    args: tuple[Any, ...] = (deployment,)
    if after is not None:
        where += " AND scheduled_time > ?"
        args += (ts(after),)
    conn.execute(f"DELETE FROM states WHERE run_id IN (SELECT id FROM runs WHERE {where})", args)
    conn.execute(f"DELETE FROM runs WHERE {where}", args)
