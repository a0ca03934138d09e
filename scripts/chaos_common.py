"""What every chaos scenario shares: a fresh folder and settings file, a real `python -m supervisor
start` daemon, the marker scan that finds what runs left, and waits with deadlines.

Every process a scenario's runs start carries `CHAOS_SESSION=<token>` in its environment (set in
the deployment's `env`, so the supervisor itself does not carry it) and, for the adversary
programs, the token in its argv too: a process found with either after its runs ended escaped.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_system import free_port

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import Run, StateType

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PY = sys.executable
ADVERSARY = str(HERE / "chaos_adversary.py")
MARK_VAR = "CHAOS_SESSION"


def adversary(kind: str, *args: str, token: str) -> list[str]:
    return [PY, ADVERSARY, kind, *args, f"chaos={token}"]


@dataclass
class Scene:
    """One scenario's folder, settings file and marker token."""

    folder: Path
    token: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def config(self) -> Path:
        return self.folder / "supervisor.toml"

    @property
    def database(self) -> Path:
        return self.folder / "state.db"

    def write(self, deployments: list[dict[str, Any]], ops_port: int = 0, **sup: Any) -> None:
        for d in deployments:
            d.setdefault("env", {})
            d["env"] = {**d["env"], MARK_VAR: self.token}
        data = {
            "supervisor": {"name": "chaos", "database": "state.db", "log_dir": "logs", **sup},
            "ops": {"enabled": ops_port != 0, "port": ops_port},
            "deployments": deployments,
        }
        write_config(self.config, data)

    def client(self) -> LocalControlPlane:
        """A connection of our own (as a CLI process has), the deployments registered."""
        from supervisor.settings import load_settings

        client = LocalControlPlane(self.database)
        client.register_deployments(load_settings(self.config, env={}).deployments)
        return client


@contextlib.contextmanager
def scene(prefix: str) -> Iterator[Scene]:
    folder = Path(tempfile.mkdtemp(prefix=f"supervisor-chaos-{prefix}-"))
    try:
        yield Scene(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without SUPERVISOR_* overrides (the settings file rules), plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISOR_")}
    env.pop(MARK_VAR, None)
    env["PYTHONPATH"] = str(ROOT)
    env.update(extra)
    return env


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, data: dict[str, Any]) -> None:
    """A settings file: [supervisor], [ops] and [[deployments]] (tables inside inline)."""
    lines = []
    for section in ("supervisor", "ops"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in data[section].items()]
    for deployment in data["deployments"]:
        lines.append("[[deployments]]")
        lines += [f"{k} = {toml_value(v)}" for k, v in deployment.items()]
    path.write_text("\n".join(lines) + "\n")


def read_runs_raw(database: Path) -> dict[str, str]:
    """run id -> state type, read straight from the file (another process may be writing)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)
    try:
        return {row[0]: row[1] for row in conn.execute("SELECT id, state_type FROM runs")}
    finally:
        conn.close()


class Daemon:
    """`python -m supervisor start` as a subprocess; its stderr goes to a file we can search."""

    def __init__(self, scene: Scene, *args: str, env: dict[str, str] | None = None) -> None:
        self.scene = scene
        self.log = scene.folder / f"daemon-{uuid.uuid4().hex[:6]}.err"
        self._err = open(self.log, "wb")  # noqa: SIM115 (closed in wait/kill)
        self.proc = subprocess.Popen(
            [PY, "-m", "supervisor", "--config", str(scene.config), "start", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=self._err,
            env=env or clean_env(), cwd=scene.folder,
        )

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_started(self, timeout: float = 30.0) -> bool:
        return wait_for(lambda: not self.alive() or b" started: " in self.log.read_bytes(), timeout
                        ) and self.alive()

    def kill9(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._err.close()

    def stop(self, timeout: float = 60.0) -> int | None:
        """SIGTERM, then wait; SIGKILL past `timeout`. Its exit code (None: it had to be killed)."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill9()
            return None
        self._err.close()
        return code

    def stderr(self) -> str:
        return self.log.read_text(errors="replace")

    def finish(self, out: dict[str, Any]) -> None:
        """Stop it and record whether it died: gone before we asked, stopped by itself (a fatal
        error), or not exiting 0 on our SIGTERM within a minute."""
        out["supervisor_alive"] = self.alive()
        out["exit_code"] = self.stop()
        out["stopped_itself"] = "supervisor stopping: " in self.stderr()
        out["died"] = int(not out["supervisor_alive"] or out["stopped_itself"]
                          or out["exit_code"] != 0)


def keep_log(daemon: Daemon, name: str, out: dict[str, Any]) -> None:
    """A daemon that died or printed a traceback: keep its stderr (the folder is removed)."""
    if out.get("tracebacks") or out.get("died"):
        kept = Path(tempfile.gettempdir()) / f"supervisor-chaos-{name}-{int(time.time())}.err"
        kept.write_text(daemon.stderr())
        out.setdefault("kept_logs", []).append(str(kept))


def tracebacks(text: str) -> int:
    return text.count("Traceback (most recent call last)")


def wait_for(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` s passed (a script, not a test: polling is
    how one watches another process's database and /proc)."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(every)


def marked(token: str, exclude: Iterable[int] = ()) -> list[int]:
    """Live (non-zombie) processes carrying the token in their environment or argv."""
    env_mark = f"{MARK_VAR}={token}".encode()
    arg_mark = f"chaos={token}".encode()
    skip = {os.getpid(), *exclude}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        pid = entry.name
        try:
            with open(f"/proc/{pid}/stat", "rb") as handle:
                if handle.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                    continue
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                argv = handle.read().split(b"\0")
            try:
                with open(f"/proc/{pid}/environ", "rb") as handle:
                    environ = handle.read().split(b"\0")
            except OSError:
                environ = []
        except OSError:
            continue
        if env_mark in environ or arg_mark in argv:
            found.append(int(pid))
    return found


def cookie_of(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            for item in handle.read().split(b"\0"):
                if item.startswith(b"SUPERVISOR_RUN_ID="):
                    return item.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return None


def kill_marked(token: str) -> int:
    """SIGKILL (after SIGCONT) every marked process; how many there were."""
    pids = marked(token)
    for pid in pids:
        for sig in (signal.SIGKILL, signal.SIGCONT):
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
    wait_for(lambda: not marked(token), 10)
    return len(pids)


def states(client: LocalControlPlane, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Run]:
    out = {}
    for run_id in ids:
        with contextlib.suppress(Exception):
            out[run_id] = client.read_run(run_id)
    return out


def terminal(run: Run | None) -> bool:
    return run is not None and run.state.type.is_terminal


def nudge(port: int) -> None:
    import http.client

    with contextlib.suppress(OSError):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("POST", "/nudge", headers={"Content-Length": "0"})
        conn.getresponse().read()
        conn.close()


__all__ = [
    "PY", "Daemon", "Scene", "StateType", "adversary", "clean_env", "free_port", "kill_marked",
    "marked", "nudge", "scene", "states", "terminal", "tracebacks", "wait_for",
]
