"""The local control plane's SQLite file: opening it safely, its schema and its migrations.

A file is ours when it carries APPLICATION_ID (or is empty). Anything else — not SQLite, another
program's database, a schema newer than this code — raises DatabaseError naming the file, and
the file is not written: every check below only reads, and WAL mode and migrations come after.

Times are stored as fixed-width ISO-8601 UTC text (microseconds), so text order is time order.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from supervisor.errors import DatabaseError

APPLICATION_ID = 0x53555056  # "SUPV"
BUSY_TIMEOUT_MS = 5000
SQLITE_HEADER = b"SQLite format 3\x00"

_V1 = """
CREATE TABLE deployments (
    name            TEXT PRIMARY KEY,
    settings        TEXT NOT NULL,   -- DeploymentSettings as JSON (defaults for create_run)
    schedule_key    TEXT NOT NULL,   -- the schedule fields as JSON, to notice a change
    paused          INTEGER NOT NULL DEFAULT 0,
    registered_at   TEXT NOT NULL,   -- when this schedule was first registered
    cursor          TEXT NOT NULL,   -- every slot at or before this time is materialised
    next_slot       TEXT             -- first slot after cursor (NULL: none / no schedule)
);
CREATE TABLE runs (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,  -- creation order, a tiebreak
    id              TEXT NOT NULL UNIQUE,
    deployment      TEXT NOT NULL REFERENCES deployments(name),
    parameters      TEXT NOT NULL,
    auto            INTEGER NOT NULL,  -- 1: materialised from the schedule
    scheduled_time  TEXT NOT NULL,
    state_type      TEXT NOT NULL,
    state_name      TEXT NOT NULL,
    state_message   TEXT NOT NULL,
    state_timestamp TEXT NOT NULL,
    start_time      TEXT,
    end_time        TEXT,
    exit_code       INTEGER,
    pid             INTEGER,
    commit_sha      TEXT,
    supervisor      TEXT
);
-- Never two auto runs for one slot, even when two processes materialise at once.
CREATE UNIQUE INDEX runs_slot ON runs(deployment, scheduled_time) WHERE auto = 1;
CREATE INDEX runs_due ON runs(state_type, scheduled_time);
CREATE INDEX runs_by_deployment ON runs(deployment, scheduled_time);
CREATE TABLE states (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id      TEXT NOT NULL,
    type        TEXT NOT NULL,
    name        TEXT NOT NULL,
    message     TEXT NOT NULL,
    timestamp   TEXT NOT NULL
);
CREATE INDEX states_by_run ON states(run_id, seq);
CREATE TABLE applied_keys (
    run_id  TEXT NOT NULL,
    key     TEXT NOT NULL,
    result  TEXT NOT NULL,   -- the OrchestrationResult first returned, as JSON
    PRIMARY KEY (run_id, key)
);
"""

_V2 = """
-- Attempts that reached RUNNING (Prefect's run_count): a retry is the same run again.
ALTER TABLE runs ADD COLUMN run_count INTEGER NOT NULL DEFAULT 0;
"""

MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: _script(conn, _V1),
    2: lambda conn: _script(conn, _V2),
}
"""Schema version N is reached by running MIGRATIONS[N] on version N-1, inside one transaction."""

SCHEMA_VERSION = max(MIGRATIONS)


def _script(conn: sqlite3.Connection, sql: str) -> None:
    # executescript() would COMMIT first; run statement by statement inside our transaction.
    for statement in sql.split(";"):
        if statement.strip():
            conn.execute(statement)


def check_header(path: Path) -> None:
    """Refuse a non-empty file that does not start with SQLite's header, before SQLite opens it.

    Read through SQLite's own VFS, never with `open()`: closing any descriptor of the file drops
    every POSIX lock this process holds on it, so another process's last connection would take
    the database for unused and delete the WAL under a live connection here ("disk I/O error").
    """
    if not path.exists():
        return  # a new file (connect() makes the folder, or says why it cannot)
    try:
        probe = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise DatabaseError(f"{path}: cannot read the database: {exc}") from None
    try:
        probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc) or "busy" in str(exc):
            raise
        raise DatabaseError(f"{path}: not a usable SQLite database ({exc})") from None
    except sqlite3.DatabaseError:
        raise DatabaseError(f"{path}: not a SQLite database, or a corrupt one") from None
    finally:
        probe.close()


def check_ours(conn: sqlite3.Connection, path: Path) -> int:
    """The file's schema version (0: empty, to be created); raises DatabaseError if not ours."""
    try:  # one statement, one snapshot: another process may be creating the schema right now
        app_id, version, tables = conn.execute(
            "SELECT (SELECT application_id FROM pragma_application_id),"
            " (SELECT user_version FROM pragma_user_version),"
            " (SELECT count(*) FROM sqlite_master)"
        ).fetchone()
    except sqlite3.DatabaseError as exc:
        if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
            raise
        raise DatabaseError(f"{path}: not a usable SQLite database ({exc})") from None
    if app_id != APPLICATION_ID and (app_id != 0 or tables):
        raise DatabaseError(f"{path}: not a supervisor database (another program's SQLite file)")
    if version > SCHEMA_VERSION:
        raise DatabaseError(
            f"{path}: schema version {version} is newer than this supervisor supports "
            f"({SCHEMA_VERSION}); upgrade the supervisor"
        )
    return int(version)


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    """Bring the schema to SCHEMA_VERSION; safe when several processes open a new file at once."""
    if check_ours(conn, path) == SCHEMA_VERSION:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = check_ours(conn, path)  # another process may have migrated meanwhile
        for target in range(version + 1, SCHEMA_VERSION + 1):
            MIGRATIONS[target](conn)
        conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating it and its folder if missing) and migrate the database at `path`."""
    check_header(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DatabaseError(f"{path}: cannot create its folder: {exc.strerror}") from None
    conn = sqlite3.connect(
        str(path), isolation_level=None, check_same_thread=False, timeout=BUSY_TIMEOUT_MS / 1000
    )
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        check_ours(conn, path)  # read-only: nothing is written to a file that is not ours
        if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn
