"""The local journal: what this supervisor claimed on a Prefect server, and what it said of it.

Prefect has no notion of which runner claimed a run, nor fields for an exit code or a commit. The
journal (one SQLite file next to the supervisor, WAL) keeps them: after a kill -9 the restarted
supervisor reads its non-terminal runs here and reports them CRASHED; a proposal's idempotency
key maps to the answer it got, so a retried report returns the original result.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from supervisor.errors import DatabaseError

SCHEMA = """
CREATE TABLE IF NOT EXISTS claims (
    run_id TEXT PRIMARY KEY,
    supervisor TEXT NOT NULL,
    state TEXT NOT NULL,
    pid INTEGER,
    exit_code INTEGER,
    commit_sha TEXT
);
CREATE INDEX IF NOT EXISTS claims_by_supervisor ON claims (supervisor, state);
CREATE TABLE IF NOT EXISTS answers (
    run_id TEXT NOT NULL,
    key TEXT NOT NULL,
    result TEXT NOT NULL,
    PRIMARY KEY (run_id, key)
);
"""


@dataclass(frozen=True)
class Claim:
    run_id: uuid.UUID
    supervisor: str
    state: str
    pid: int | None
    exit_code: int | None
    commit: str | None


class Journal:
    """Thread-safe; every write is its own transaction (a claim is recorded before it is used)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA busy_timeout=5000")
            self._conn.executescript(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise DatabaseError(f"{path}: cannot open the journal ({exc})") from None

    def _run(self, sql: str, args: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
        with self._lock:
            try:
                return self._conn.execute(sql, args).fetchall()
            except sqlite3.Error as exc:
                raise DatabaseError(f"{self.path}: {exc}") from None

    # claims -------------------------------------------------------------------------------

    def claimed(self, run_id: uuid.UUID, supervisor: str) -> None:
        """A claim about to be proposed; a run already in the journal keeps its record."""
        self._run("INSERT OR IGNORE INTO claims (run_id, supervisor, state) "
                  "VALUES (?, ?, 'CLAIMING')", (str(run_id), supervisor))

    def reported(self, run_id: uuid.UUID, state: str, pid: int | None, exit_code: int | None,
                 commit: str | None) -> None:
        """A state that landed; fields given stay, fields not given keep their old value."""
        self._run(
            "UPDATE claims SET state = ?, pid = COALESCE(?, pid), "
            "exit_code = COALESCE(?, exit_code), commit_sha = COALESCE(?, commit_sha) "
            "WHERE run_id = ?",
            (state, pid, exit_code, commit, str(run_id)),
        )

    def forget(self, run_id: uuid.UUID) -> None:
        """A claim that did not happen (refused, or someone else's)."""
        self._run("DELETE FROM claims WHERE run_id = ? AND state = 'CLAIMING'", (str(run_id),))

    def claim(self, run_id: uuid.UUID) -> Claim | None:
        rows = self._run("SELECT run_id, supervisor, state, pid, exit_code, commit_sha "
                         "FROM claims WHERE run_id = ?", (str(run_id),))
        return _claim(rows[0]) if rows else None

    def claims(self, run_ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Claim]:
        ids = [str(r) for r in run_ids]
        found: dict[uuid.UUID, Claim] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            rows = self._run(
                "SELECT run_id, supervisor, state, pid, exit_code, commit_sha FROM claims "
                f"WHERE run_id IN ({','.join('?' * len(chunk))})", tuple(chunk))
            found.update((c.run_id, c) for c in map(_claim, rows))
        return found

    def runs_of(self, supervisor: str) -> list[uuid.UUID]:
        rows = self._run("SELECT run_id FROM claims WHERE supervisor = ?", (supervisor,))
        return [uuid.UUID(str(r[0])) for r in rows]

    # idempotency --------------------------------------------------------------------------

    def answer(self, run_id: uuid.UUID, key: str) -> dict[str, object] | None:
        rows = self._run("SELECT result FROM answers WHERE run_id = ? AND key = ?",
                         (str(run_id), key))
        return json.loads(str(rows[0][0])) if rows else None

    def remember(self, run_id: uuid.UUID, key: str, result: dict[str, object]) -> None:
        self._run("INSERT OR IGNORE INTO answers (run_id, key, result) VALUES (?, ?, ?)",
                  (str(run_id), key, json.dumps(result)))

    def close(self) -> None:
        with self._lock:
            self._conn.close()


def _claim(row: tuple[object, ...]) -> Claim:
    run_id, supervisor, state, pid, exit_code, commit = row
    return Claim(uuid.UUID(str(run_id)), str(supervisor), str(state),
                 pid if isinstance(pid, int) else None,
                 exit_code if isinstance(exit_code, int) else None,
                 str(commit) if commit is not None else None)
