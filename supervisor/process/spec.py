"""What run actors hand to this layer (ProcessSpec) and what it tells them back (ProcessInfo)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from supervisor.process.names import COOKIE_VAR, PARAMETERS_VAR

__all__ = ["COOKIE_VAR", "PARAMETERS_VAR", "ProcessInfo", "ProcessSpec", "entrypoint_argv"]


@dataclass(frozen=True)
class ProcessSpec:
    """One run's process: argv (never a shell), where and with what environment to run it."""

    run_id: str
    argv: tuple[str, ...]
    cwd: Path | None = None
    env: Mapping[str, str] | None = None
    log_path: Path | None = None
    kill_grace: float = 10.0

    def child_env(self) -> dict[str, str]:
        """The child's full environment: the given one (or ours) plus the run's cookie."""
        import os

        env = dict(os.environ if self.env is None else self.env)
        env[COOKIE_VAR] = self.run_id
        return env


@dataclass(frozen=True)
class ProcessInfo:
    """One process of a run's tree at one moment (for the ops API and `status`)."""

    pid: int
    ppid: int
    command: str
    cpu_percent: float
    rss: int
    create_time: float
    status: str


def entrypoint_argv(entrypoint: str, python: str = sys.executable) -> tuple[str, ...]:
    """argv that runs `path/to/file.py:func` or `package.module:func` in a child Python process.

    `-u` keeps the child's output unbuffered so its log streams line by line; the child reads its
    parameters from SUPERVISOR_PARAMETERS (see `supervisor.process.entrypoint`).
    """
    return (python, "-u", "-m", "supervisor.process.entrypoint", entrypoint)
