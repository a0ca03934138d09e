"""A fake process launcher for the actors' unit tests: processes that end only when told.

It honours the same contract as `supervisor.process.start_process` (tests/actors/
test_launcher_contract.py runs both): a start failure is a done process whose on_exit has
fired; `terminate()` returns at once and on_exit fires once with the reason.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable

from supervisor.process import ExitReason, ExitResult, ProcessSpec
from supervisor.process.exits import Ending, start_failed

_pids = itertools.count(100_000)


class FakeProcess:
    def __init__(self, spec: ProcessSpec, on_exit: Callable[[ExitResult], None] | None) -> None:
        self.spec = spec
        self.run_id = spec.run_id
        self.pid: int | None = next(_pids)
        self.terminations: list[tuple[float, ExitReason]] = []
        self._on_exit = on_exit
        self._result: ExitResult | None = None
        self._lock = threading.Lock()
        self._done = threading.Event()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def result(self) -> ExitResult | None:
        return self._result

    def tree(self) -> list:
        return []

    def wait(self, timeout: float | None = None) -> ExitResult | None:
        self._done.wait(timeout)
        return self._result

    def terminate(self, grace: float, reason: ExitReason = ExitReason.CANCELLED) -> None:
        """Records the request; the fake tree obeys SIGTERM at once unless `stubborn`."""
        self.terminations.append((grace, reason))
        if not getattr(self, "stubborn", False):
            self.end(reason, -15)

    def exit(self, returncode: int) -> None:
        """The main process exits on its own."""
        self.end(ExitReason.EXITED, returncode)

    def end(self, reason: ExitReason, returncode: int | None, escalated: bool = False) -> None:
        with self._lock:
            if self._result is not None:
                return
            ending = Ending(reason, returncode, False, self.spec.kill_grace, 0.0, 0, escalated, 0)
            self._result = ending.result(0.0)
        self._done.set()
        if self._on_exit is not None:
            self._on_exit(self._result)

    def fail_start(self, error: str) -> None:
        self.pid = None
        self._result = start_failed(error, 0.0)
        self._done.set()
        if self._on_exit is not None:
            self._on_exit(self._result)


class FakeLauncher:
    """Call it like `start_process`; `processes` maps run id → the FakeProcess it made."""

    def __init__(self) -> None:
        self.processes: dict[str, FakeProcess] = {}
        self.launched: list[FakeProcess] = []
        """Every process started, in order (a retry or a hook reuses its run's id)."""
        self.cannot_start: dict[str, str] = {}
        self.on_launch: Callable[[ProcessSpec], None] | None = None
        """Called as a process starts: a test's way into the moment between claim and start."""
        self.exit_at_start: int | None = None
        """Processes exit with this code before the launch returns (a real child can be that
        quick: its end sequence may finish before `start_process` returns)."""

    def __call__(
        self,
        spec: ProcessSpec,
        *,
        on_output: Callable[[str], None] | None = None,
        on_exit: Callable[[ExitResult], None] | None = None,
    ) -> FakeProcess:
        if self.on_launch is not None:
            self.on_launch(spec)
        process = FakeProcess(spec, on_exit)
        self.processes[spec.run_id] = process
        self.launched.append(process)
        if spec.run_id in self.cannot_start:
            process.fail_start(self.cannot_start[spec.run_id])
        elif self.exit_at_start is not None:
            process.exit(self.exit_at_start)
        return process

    def live(self) -> list[FakeProcess]:
        return [p for p in self.processes.values() if not p.done]
