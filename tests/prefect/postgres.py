"""A private PostgreSQL on loopback for a Prefect server that many supervisors share.

A SQLite-backed 3.4.25 server stalls under three polling supervisors ("database is locked"),
which is why Prefect's own docs send multi-worker set-ups to Postgres. This starts Debian's
PostgreSQL (scripts/install-postgres) in a temp data directory: `initdb` with trust auth for
loopback only, its own port and socket directory, fsync off (a test database). As root it runs as
the `postgres` user (PostgreSQL refuses root). `stop()` is `pg_ctl stop -m immediate` and the data
directory goes with `close()`. It runs without the test session's cookie (it is kept between
tests, not a test's leftover); the session's end closes it (`close_shared`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tests.prefect.api import PrefectApi
from tests.prefect.server import PrefectServer, _clean_environ, _free_port

_kept: dict[str, tuple[Postgres, PrefectServer]] = {}
"""version -> its shared Postgres-backed server: started once a session, stopped between uses."""


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL's bin directory (Debian's layout), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
                   key=lambda p: int(Path(p).parts[4]) if Path(p).parts[4].isdigit() else 0)
    return Path(found[-1]).parent if found else None


class Postgres:
    def __init__(self) -> None:
        found = bin_dir()
        if found is None:
            raise FileNotFoundError("no PostgreSQL under /usr/lib/postgresql: "
                                    "run scripts/install-postgres")
        self.bin = found
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="prefect-postgres-"))
        self.data = self.root / "data"
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]

    def url(self, database: str) -> str:
        """The SQLAlchemy URL Prefect's PREFECT_API_DATABASE_CONNECTION_URL takes."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str) -> None:
        subprocess.run([*self._as, *argv], check=True, capture_output=True, cwd=self.root,
                       timeout=120, env=_clean_environ())

    def start(self) -> Postgres:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "-A", "trust", "-E", "UTF8", "--no-sync")
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
                   "-c fsync=off -c synchronous_commit=off -c full_page_writes=off "
                   "-c max_connections=200")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options,
                  "-l", str(self.root / "postgres.log"), "-w", "start")
        return self

    def create_database(self, name: str) -> str:
        self._run(str(self.bin / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                  "-U", "postgres", name)
        return self.url(name)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w",
                      "stop")

    def close(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Postgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def shared_server(sqlite_server: PrefectServer) -> Iterator[tuple[PrefectServer, PrefectApi]]:
    """A server several supervisors can share: `sqlite_server` itself on 2.x; on 3.x the same
    version on a private Postgres (a SQLite-backed 3.4.25 server stalls under several polling
    supervisors: requests time out at 10 s, "database is locked"; 0 of 60 runs in 180 s,
    measured; 6 racing claimers stalled it for 60-120 s in 5 of 15 tries). The SQLite one
    is stopped meanwhile (one server at a time on 2 cores; the session's fixtures start it
    again for the next test that wants it). The Postgres one is made once a session and
    stopped after each use (its database stays)."""
    if sqlite_server.version.startswith("2."):
        with PrefectApi(sqlite_server.api_url) as api:
            yield sqlite_server, api
        return
    from tests.prefect.fixtures import _unavailable

    if bin_dir() is None:
        _unavailable("no PostgreSQL for the shared 3.x server: run scripts/install-postgres")
    sqlite_server.stop()
    server = _kept_server(sqlite_server.version)
    server.start()
    try:
        with PrefectApi(server.api_url) as api:
            yield server, api
    finally:
        server.stop()


def _kept_server(version: str) -> PrefectServer:
    if version not in _kept:
        pg = Postgres().start()
        try:
            _kept[version] = (pg, PrefectServer(version, pg.create_database("prefect")))
        except BaseException:
            pg.close()
            raise
    return _kept[version][1]


def close_shared() -> None:
    """End every kept server and its Postgres (the session is over)."""
    while _kept:
        pg, server = _kept.popitem()[1]
        try:
            server.close()
        finally:
            pg.close()
