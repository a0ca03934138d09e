"""Deployments in the local control plane: upsert, pause, and materialising schedule slots.

Each function runs inside the caller's transaction (see `LocalControlPlane._txn`); the
materialisation policy is described in local.py's docstring.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from supervisor.controlplane import sqlite_rows as rows
from supervisor.controlplane.rules import missed_slot, plan_slots, schedule_key
from supervisor.errors import DeploymentNotFound
from supervisor.models import DeploymentInfo, State, StateType
from supervisor.schedules import describe, next_slot
from supervisor.settings import DeploymentSettings


def _ts_or_none(value: datetime | None) -> str | None:
    return None if value is None else rows.ts(value)


def settings_of(conn: sqlite3.Connection, name: str) -> DeploymentSettings:
    row = conn.execute("SELECT settings FROM deployments WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise DeploymentNotFound(f"no deployment named {name!r}")
    return rows.settings_from_json(row[0])


def upsert(conn: sqlite3.Connection, deployments: Sequence[DeploymentSettings],
           now: datetime) -> None:
    """Register by name; a new or changed schedule starts now (its future unclaimed slots go)."""
    for deployment in deployments:
        key = schedule_key(deployment)
        old = conn.execute(
            "SELECT schedule_key, cursor, paused FROM deployments WHERE name = ?",
            (deployment.name,),
        ).fetchone()
        if old is not None and old[0] == key:
            _reregister(conn, deployment, rows.from_ts(old[1]) or now, bool(old[2]), now)
            continue
        conn.execute(
            "INSERT INTO deployments (name, settings, schedule_key, registered_at, cursor,"
            " next_slot) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(name) DO UPDATE SET"
            " settings = excluded.settings, schedule_key = excluded.schedule_key,"
            " registered_at = excluded.registered_at, cursor = excluded.cursor,"
            " next_slot = excluded.next_slot",
            (deployment.name, deployment.model_dump_json(), key, rows.ts(now), rows.ts(now),
             _ts_or_none(next_slot(deployment, now))),
        )
        if old is not None:
            rows.delete_unclaimed_auto_runs(conn, deployment.name, after=now)


def _reregister(conn: sqlite3.Connection, deployment: DeploymentSettings,
                cursor: datetime, paused: bool, now: datetime) -> None:
    """Same schedule: new settings; slots missed since the cursor coalesce into one run."""
    conn.execute("UPDATE deployments SET settings = ? WHERE name = ?",
                 (deployment.model_dump_json(), deployment.name))
    if paused or cursor >= now:
        return
    missed = missed_slot(deployment, cursor, now)
    if missed is not None:
        rows.insert_run(conn, deployment.name, deployment.parameters, missed,
                        State(type=StateType.SCHEDULED, timestamp=now), auto=True)
    conn.execute("UPDATE deployments SET cursor = ?, next_slot = ? WHERE name = ?",
                 (rows.ts(now), _ts_or_none(next_slot(deployment, now)), deployment.name))


def set_paused(conn: sqlite3.Connection, name: str, paused: bool, now: datetime) -> None:
    """Pausing drops unclaimed schedule runs; resuming starts the schedule from now."""
    row = conn.execute(
        "SELECT settings, paused, cursor FROM deployments WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise DeploymentNotFound(f"no deployment named {name!r}")
    if bool(row[1]) == paused:
        return
    if paused:
        conn.execute("UPDATE deployments SET paused = 1 WHERE name = ?", (name,))
        rows.delete_unclaimed_auto_runs(conn, name)
        return
    cursor = max(rows.from_ts(row[2]) or now, now)
    conn.execute(
        "UPDATE deployments SET paused = 0, cursor = ?, next_slot = ? WHERE name = ?",
        (rows.ts(cursor), _ts_or_none(next_slot(rows.settings_from_json(row[0]), cursor)), name),
    )


def _due_query(names: Collection[str] | None, until: datetime) -> tuple[str, list[Any]]:
    query = "FROM deployments WHERE paused = 0 AND next_slot <= ?"
    args: list[Any] = [rows.ts(until)]
    if names is not None:
        query += f" AND name IN ({','.join('?' * len(names))})"
        args += list(names)
    return query, args


def any_due(conn: sqlite3.Connection, names: Collection[str] | None, until: datetime) -> bool:
    """Whether some deployment has a slot to materialise (a read: no write lock if not)."""
    query, args = _due_query(names, until)
    return conn.execute(f"SELECT 1 {query} LIMIT 1", args).fetchone() is not None


def materialise(conn: sqlite3.Connection, names: Collection[str] | None, until: datetime,
                now: datetime) -> None:
    """Create the runs of every slot up to `until` (at most rules.MAX_SLOTS_PER_READ each)."""
    query, args = _due_query(names, until)
    for name, text, cursor in conn.execute(f"SELECT name, settings, cursor {query}", args
                                           ).fetchall():
        settings = rows.settings_from_json(text)
        new, new_cursor, nxt = plan_slots(settings, rows.from_ts(cursor) or now, until)
        for slot in new:
            rows.insert_run(conn, name, settings.parameters, slot,
                            State(type=StateType.SCHEDULED, timestamp=now), auto=True)
        conn.execute("UPDATE deployments SET cursor = ?, next_slot = ? WHERE name = ?",
                     (rows.ts(new_cursor), _ts_or_none(nxt), name))


def infos(conn: sqlite3.Connection) -> list[DeploymentInfo]:
    """Every deployment with its next run: the earliest SCHEDULED run or next slot."""
    found = []
    for name, text, paused, nxt, first_run in conn.execute(
        "SELECT name, settings, paused, next_slot, (SELECT min(scheduled_time) FROM runs"
        " WHERE deployment = d.name AND state_type = 'SCHEDULED') FROM deployments d"
        " ORDER BY name"
    ):
        settings = rows.settings_from_json(text)
        times = [t for t in (nxt, first_run) if t is not None]
        found.append(DeploymentInfo(
            name=name,
            schedule=describe(settings),
            next_run_time=None if paused or not times else rows.from_ts(min(times)),
            paused=bool(paused),
            tags=settings.tags,
        ))
    return found
