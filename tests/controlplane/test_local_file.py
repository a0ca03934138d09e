"""The local adapter's file: created with its folder, WAL, persistent, migrated; a file that is
not ours is refused with one line naming it and is left byte-identical; a busy file is waited
for and, past the retries, reported as retryable."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from supervisor.controlplane import sqlite_schema
from supervisor.controlplane.local import LocalControlPlane
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable, DatabaseError
from supervisor.models import State, StateType
from tests.controlplane.contract import deployment


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def make_ours(path: Path) -> None:
    plane = LocalControlPlane(path)
    plane.register_deployments([deployment()])
    plane.close()


def make_foreign(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (body TEXT)")
        conn.execute("INSERT INTO notes VALUES ('mine')")
    conn.close()


def make_newer(path: Path) -> None:
    make_ours(path)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()


def test_creates_the_file_and_its_folder_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "a" / "b" / "state.db"
    plane = LocalControlPlane(path)
    plane.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == sqlite_schema.SCHEMA_VERSION
    conn.close()


def test_data_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    plane = LocalControlPlane(path)
    plane.register_deployments([deployment(interval=60)])
    run = plane.create_run("etl", {"x": 1})
    plane.set_state(run.id, State.of(StateType.PENDING), supervisor="s1", idempotency_key="k")
    before = plane.read_run(run.id)
    plane.close()
    again = LocalControlPlane(path)
    assert again.read_run(run.id) == before and before.supervisor == "s1"
    assert again.set_state(run.id, State.of(StateType.PENDING), idempotency_key="k").accepted
    assert [d.name for d in again.read_deployments()] == ["etl"]
    again.close()


def test_an_empty_file_is_initialised(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    path.touch()
    make_ours(path)
    assert path.stat().st_size > 0


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: p.write_bytes(b"name,value\nlimit,4\n" * 200), "not a SQLite database"),
    (lambda p: p.write_bytes(sqlite_schema.SQLITE_HEADER + b"\xff" * 4080),
     "not a SQLite database, or a corrupt one"),
    (make_foreign, "not a supervisor database"),
    (make_newer, "schema version 99 is newer"),
], ids=["text", "corrupt", "foreign", "newer"])
def test_a_file_that_is_not_ours_is_refused_and_untouched(
    tmp_path: Path, make: Callable[[Path], object], says: str
) -> None:
    folder = tmp_path / "db"
    folder.mkdir()
    path = folder / "state.db"
    make(path)
    before = snapshot(folder)
    with pytest.raises(DatabaseError) as caught:
        LocalControlPlane(path)
    message = str(caught.value)
    head = path.read_bytes()[:24]
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    assert says in message, (message, head)
    assert snapshot(folder) == before


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    with pytest.raises(DatabaseError, match=str(tmp_path)):
        LocalControlPlane(tmp_path)


def test_a_folder_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(DatabaseError, match="cannot create its folder"):
        LocalControlPlane(tmp_path / "file" / "state.db")


def test_migrations_run_in_order_and_keep_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file at the current version with a run
    path = tmp_path / "state.db"
    plane = LocalControlPlane(path)
    plane.register_deployments([deployment()])
    run = plane.create_run("etl")
    plane.close()
    # When this code knows one version more
    def add_column(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN note TEXT")

    following = sqlite_schema.SCHEMA_VERSION + 1
    monkeypatch.setitem(sqlite_schema.MIGRATIONS, following, add_column)
    monkeypatch.setattr(sqlite_schema, "SCHEMA_VERSION", following)
    plane = LocalControlPlane(path)
    # Then the file is at that version and the run is still there
    assert plane.read_run(run.id).id == run.id
    plane.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == following
    assert "note" in [row[1] for row in conn.execute("PRAGMA table_info(runs)")]
    conn.close()


def test_a_version_1_file_gains_run_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a file written by code that knew only version 1 (before retries)
    path = tmp_path / "state.db"
    with monkeypatch.context() as patch:
        patch.setattr(sqlite_schema, "SCHEMA_VERSION", 1)
        patch.setattr(sqlite_schema, "MIGRATIONS", {1: sqlite_schema.MIGRATIONS[1]})
        conn = sqlite_schema.connect(path)
        conn.close()
    # When this code opens it, then its runs count their attempts from 0
    plane = LocalControlPlane(path)
    plane.register_deployments([deployment()])
    assert plane.create_run("etl").run_count == 0
    plane.close()


def test_many_openers_of_a_new_file_at_once(tmp_path: Path) -> None:
    path = tmp_path / "new" / "state.db"
    barrier = threading.Barrier(6)
    errors: list[BaseException] = []

    def open_and_register() -> None:
        try:
            barrier.wait(timeout=10)
            plane = LocalControlPlane(path)
            plane.register_deployments([deployment()])
            plane.create_run("etl")
            plane.close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=open_and_register) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    plane = LocalControlPlane(path)
    assert len(plane.read_runs()) == 6
    plane.close()


def test_a_long_write_lock_is_reported_retryable_without_saying_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_schema, "BUSY_TIMEOUT_MS", 20)
    path = tmp_path / "state.db"
    plane = LocalControlPlane(path)
    plane.register_deployments([deployment()])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # Reads go on while another process writes (WAL)...
        assert plane.read_runs() == []
        # ...a write waits, retries, then says "try again"
        with pytest.raises(ControlPlaneUnavailable) as caught:
            plane.create_run("etl")
        assert "locked" not in str(caught.value) and str(path) in str(caught.value)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert plane.create_run("etl").deployment == "etl"
    plane.close()


def test_a_short_write_lock_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "state.db"
    plane = LocalControlPlane(path)
    plane.register_deployments([deployment()])
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    done = threading.Event()
    thread = threading.Thread(target=lambda: (plane.create_run("etl"), done.set()))
    thread.start()
    holder.execute("COMMIT")
    holder.close()
    thread.join(timeout=30)
    assert done.is_set() and len(plane.read_runs()) == 1
    plane.close()


def test_a_closed_plane_refuses_calls(tmp_path: Path) -> None:
    plane = LocalControlPlane(tmp_path / "state.db")
    plane.close()
    plane.close()
    with pytest.raises(ControlPlaneError, match="closed"):
        plane.read_runs()


def test_opening_a_second_adapter_keeps_the_first_ones_locks(tmp_path: Path) -> None:
    """Reading the file with open()/close() would drop this process's POSIX locks: another
    process closing its last connection would then delete the WAL under us (disk I/O error)."""
    import subprocess
    import sys

    path = tmp_path / "state.db"
    first = LocalControlPlane(path)
    first.read_runs()
    second = LocalControlPlane(path)  # checks the file again while `first` holds locks
    other = "from supervisor.controlplane.local import LocalControlPlane as L; " \
            f"p = L({str(path)!r}); p.read_runs(); p.close()"
    subprocess.run([sys.executable, "-c", other], check=True)
    assert (tmp_path / "state.db-wal").exists(), "the WAL was deleted under a live connection"
    assert first.read_runs() == [] and second.read_runs() == []
    first.close()
    second.close()


def test_stored_settings_that_no_longer_validate_are_a_one_line_error(tmp_path: Path) -> None:
    # Given a deployment stored by another version with a field this one does not know
    path = tmp_path / "state.db"
    make_ours(path)
    conn = sqlite3.connect(path)
    conn.execute("""UPDATE deployments SET settings = json_set(settings, '$.color', 'red')""")
    conn.commit()
    conn.close()
    plane = LocalControlPlane(path)
    with pytest.raises(DatabaseError) as caught:
        plane.read_deployments()
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "color" in message and "\n" not in message
    # registering it again (a supervisor start) repairs it
    plane.register_deployments([deployment()])
    assert [d.name for d in plane.read_deployments()] == ["etl"]
    plane.close()
