"""Fixtures for CLI tests: a settings file in a temporary folder and a way to run
`python -m supervisor` against it as a real subprocess."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import pytest

CONFIG = """\
[supervisor]
name = "cli-test"
database = ".supervisor/state.db"
log_dir = ".supervisor/logs"
poll_interval = 0.2

[ops]
enabled = false
port = 0

[[deployments]]
name = "ticker"
command = [{python}, "-c", "pass"]
cron = "0 3 1 1 *"
timezone = "Europe/Paris"
tags = ["cli"]

[[deployments]]
name = "adhoc"
command = [{python}, "-c", "print('hi')"]
parameters = {{ who = "world", n = 1 }}
"""


@dataclass(frozen=True)
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def error_line(self) -> str:
        """The one line an error prints; fails when stderr holds anything else."""
        lines = self.stderr.splitlines()
        assert len(lines) == 1, f"expected one line on stderr, got: {self.stderr!r}"
        assert "Traceback" not in self.stderr
        return lines[0]


class Cli:
    """`python -m supervisor --config <root>/supervisor.toml …`, run in `root`."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "supervisor.toml"
        self.database = root / ".supervisor" / "state.db"
        self.log_dir = root / ".supervisor" / "logs"

    def argv(self, *args: str, config: bool = True) -> list[str]:
        prefix = ["--config", str(self.config)] if config else []
        return [sys.executable, "-m", "supervisor", *prefix, *args]

    def env(self, **extra: str) -> dict[str, str]:
        """The test's environment without settings overrides a developer may have exported
        (the session cookie stays, so the leak check sees every process started here)."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SUPERVISOR_") or k == "SUPERVISOR_TEST_SESSION"
        }
        env.update(extra)
        return env

    def __call__(self, *args: str, config: bool = True, **env: str) -> Result:
        done = subprocess.run(
            self.argv(*args, config=config),
            cwd=self.root,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    def popen(self, *args: str, **kwargs: object) -> subprocess.Popen[str]:
        return subprocess.Popen(  # type: ignore[call-overload]
            self.argv(*args),
            cwd=self.root,
            env=self.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,
        )


def fingerprint(path: Path) -> tuple[str, float]:
    """Content hash and modification time: equal before and after means untouched."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    (tmp_path / "supervisor.toml").write_text(CONFIG.format(python=json.dumps(sys.executable)))
    return Cli(tmp_path)


class StreamReader:
    """Collects a child's pipe on a thread, so a test can wait for a line with a deadline."""

    def __init__(self, stream: IO[str]) -> None:
        self._chunks: list[str] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            with self._lock:
                self._chunks.append(line)

    def text(self) -> str:
        with self._lock:
            return "".join(self._chunks)

    def join(self, timeout: float = 10.0) -> str:
        """All the output, once the child closed the pipe."""
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the child kept its pipe open"
        return self.text()
