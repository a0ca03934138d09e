"""A real `prefect server start` on loopback, from its cached venv (scripts/prefect-venvs).

Free 127.0.0.1 port, a temp PREFECT_HOME (SQLite), UI and analytics off. `stop()` ends the whole
server (its process group, then anything left carrying its cookie) and `start()` again brings it
back on the same port and database: what an outage test needs. The server does not carry the
test-session cookie (it outlives single tests by design); it carries its own, so `processes()`
finds everything it started.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import ModuleType

from tests import leaks

ROOT = Path(__file__).resolve().parents[2]
COOKIE_VAR = "SUPERVISOR_PREFECT_SERVER"
START_TIMEOUT = 90.0  # ~14 s on a quiet 2-core machine; several workers share it
STOP_GRACE = 10.0  # SIGTERM → SIGKILL; a quiet server exits in 0.5-2 s


def venvs() -> ModuleType:
    """scripts/prefect-venvs as a module: the one place the pins and venv paths live."""
    loader = SourceFileLoader("prefect_venvs", str(ROOT / "scripts" / "prefect-venvs"))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


class ServerError(RuntimeError):
    """The server did not come up, or would not go away."""


def _clean_environ() -> dict[str, str]:
    """os.environ without ambient Prefect settings (hermetic) and without any test/bench session
    cookie (the server is not a test's leftover)."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("PREFECT_")
        and not (name.startswith("SUPERVISOR_") and name.endswith("_SESSION"))
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrefectServer:
    """One Prefect server version; `start()`/`stop()` as often as needed, `close()` at the end."""

    def __init__(self, version: str, database_url: str | None = None) -> None:
        """`database_url`: a Postgres database (tests/prefect/postgres.py) instead of SQLite."""
        module = venvs()
        if version not in module.PINS:
            raise ValueError(f"unknown Prefect version {version!r} (known: {list(module.PINS)})")
        self.version = version
        self.python = str(module.venv_python(version))
        self.ready = module.is_ready(version)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.api_url = f"{self.url}/api"
        self.cookie = f"{COOKIE_VAR}={uuid.uuid4().hex}"
        self.database_url = database_url
        self.home: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"PrefectServer({self.version!r}, api_url={self.api_url!r})"

    def __enter__(self) -> PrefectServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log_path(self) -> Path:
        assert self.home is not None, "never started"
        return self.home / "server.log"

    def env(self) -> dict[str, str]:
        """Environment for a Prefect client process (flow, runner, engine) using this server.
        Keeps the test-session cookie, so the leak checks see what clients leave behind."""
        assert self.home is not None, "start() the server first"
        client_home = self.home / "client"
        client_home.mkdir(exist_ok=True)
        keep = {n: v for n, v in os.environ.items() if not n.startswith("PREFECT_")}
        return {
            **keep,
            "PREFECT_API_URL": self.api_url,
            "PREFECT_HOME": str(client_home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }

    def _server_env(self) -> dict[str, str]:
        assert self.home is not None
        name, _, value = self.cookie.partition("=")
        return {
            **_clean_environ(),
            name: value,
            "PREFECT_HOME": str(self.home),
            "PREFECT_UI_ENABLED": "false",  # 2.x name; 3.x reads it as server.ui.enabled
            "PREFECT_SERVER_UI_ENABLED": "false",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            **({"PREFECT_API_DATABASE_CONNECTION_URL": self.database_url}
               if self.database_url else {}),
        }

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the server (on the same port and database as before, if it ran) and return
        once `/api/health` answers; ServerError with the log's tail if it does not."""
        if self._process is not None:
            raise ServerError(f"{self} is already running")
        if not self.ready:
            raise ServerError(f"no venv for Prefect {self.version}: run scripts/prefect-venvs")
        if self.home is None:
            self.home = Path(tempfile.mkdtemp(prefix=f"prefect-{self.version}-"))
        prefect = str(Path(self.python).parent / "prefect")
        argv = [prefect, "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                argv,
                env=self._server_env(),
                cwd=self.home,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stop() signals it all at once
            )
        deadline = time.monotonic() + timeout
        while not self._healthy():
            if self._process.poll() is not None:
                code = self._process.returncode
                self.stop()
                raise ServerError(f"{self} exited with {code} while starting:\n{self._tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(f"{self} not healthy after {timeout} s:\n{self._tail()}")
            time.sleep(0.2)

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.api_url}/health", timeout=2) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False

    def _tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @property
    def running(self) -> bool:
        return self._process is not None

    def processes(self) -> list[tuple[int, str]]:
        """(pid, command) of every live process this server started, found by its cookie."""
        return leaks.processes_with(self.cookie.encode())

    def stop(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM the server's process group, SIGKILL it after `grace`, reap it, then kill
        anything still carrying its cookie. Returns only when none of its processes is left."""
        process, self._process = self._process, None
        if process is None:
            return
        _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        while _group_alive(process) and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
        deadline = time.monotonic() + 10
        while left := self.processes():  # escaped its group (new session): kill by cookie
            for pid, _ in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            if time.monotonic() > deadline:
                raise ServerError(f"{self}: processes survive SIGKILL: {left}")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop for good and delete the database and logs."""
        self.stop()
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signum)


def _group_alive(process: subprocess.Popen[bytes]) -> bool:
    """Any member of the server's group still alive (the leader reaped first, not counted as a
    zombie)."""
    process.poll()
    try:
        os.killpg(process.pid, 0)
    except ProcessLookupError:
        return False
    return True
