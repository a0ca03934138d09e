"""Starting real programs through the layer and looking at what is left, for the process tests."""

from __future__ import annotations

import sys
import threading
import uuid
from pathlib import Path

from supervisor.process import ExitResult, ProcessSpec, RunProcess, start_process
from supervisor.process.procfs import scan_cookies
from supervisor.timers import Scheduler
from tests.programs import program
from tests.waiting import wait_until


class Started:
    """A run plus everything it printed and every on_exit call."""

    def __init__(
        self, argv: tuple[str, ...], scheduler: Scheduler | None = None, **spec: object
    ) -> None:
        self.run_id = f"test-{uuid.uuid4()}"
        self.lines: list[str] = []
        self.exits: list[ExitResult] = []
        self.exited = threading.Event()
        self.run: RunProcess = start_process(
            ProcessSpec(run_id=self.run_id, argv=argv, **spec),  # type: ignore[arg-type]
            on_output=self.lines.append,
            on_exit=self._on_exit,
            scheduler=scheduler,
        )

    def _on_exit(self, result: ExitResult) -> None:
        self.exits.append(result)
        self.exited.set()

    def wait_line(self, prefix: str, count: int = 1) -> list[str]:
        return wait_until(
            lambda: (
                (found := [x for x in self.lines if x.startswith(prefix)])[count - 1 :] and found
            ),
            timeout=30,
            message=f"{count} line(s) starting {prefix!r}; got {self.lines[-5:]}",
        )

    def result(self) -> ExitResult:
        result = self.run.wait(30)
        assert result is not None, f"no result; output {self.lines[-5:]}"
        assert self.exited.wait(5)
        return result

    def alive(self) -> list[int]:
        return cookie_pids(self.run_id)


def cookie_pids(run_id: str) -> list[int]:
    """Live processes carrying the run's cookie, over the whole machine."""
    return scan_cookies()[0].get(run_id, [])


def python(name: str, *args: str, **spec: object) -> Started:
    return Started((sys.executable, program(name), *args), **spec)


def pids_in(lines: list[str], prefix: str) -> list[int]:
    return [int(line.split()[1]) for line in lines if line.startswith(prefix)]


def text(path: Path) -> str:
    return path.read_text(encoding="utf-8")
