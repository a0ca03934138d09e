"""RunProcess: the handle a run actor holds on its process tree. Nothing here blocks a caller."""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import threading
from collections.abc import Callable

from supervisor.process import tree as trees
from supervisor.process.ending import TreeEnder
from supervisor.process.exits import Ending, ExitReason, ExitResult, start_failed
from supervisor.process.output import OutputReader
from supervisor.process.runtime import Runtime
from supervisor.process.spec import ProcessInfo, ProcessSpec
from supervisor.timers import Scheduler

log = logging.getLogger(__name__)

DRAIN = 0.5  # after the tree is ended, how long output may still arrive before the pipe is closed


class RunProcess:
    """One run's process tree. `on_exit` fires once, after the tree is ended and output drained."""

    def __init__(
        self,
        spec: ProcessSpec,
        rt: Runtime,
        timers: Scheduler,
        on_exit: Callable[[ExitResult], None] | None,
    ) -> None:
        self.run_id = spec.run_id
        self.pid: int | None = None
        self.spec = spec
        self._rt = rt
        self._timers = timers
        self._clock = timers.clock
        self._on_exit = on_exit
        self._started = self._clock.monotonic()
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._result: ExitResult | None = None
        self._pending: ExitResult | None = None  # ended, waiting for the output to drain
        self._requested = False
        self._popen: subprocess.Popen[bytes] | None = None
        self._ender: TreeEnder | None = None
        self._output: OutputReader | None = None
        self._output_closed = True
        self._infos = trees.InfoCache()

    # --- public ---

    @property
    def done(self) -> bool:
        return self._done.is_set()

    @property
    def result(self) -> ExitResult | None:
        return self._result

    def wait(self, timeout: float | None = None) -> ExitResult | None:
        self._done.wait(timeout)
        return self._result

    def terminate(self, grace: float, reason: ExitReason = ExitReason.CANCELLED) -> None:
        """TERM the whole tree -> grace -> KILL -> reap -> verify; returns at once, idempotent.

        A second call can only shorten the grace; the first reason stands.
        """
        ender = self._ender
        if ender is None or self.done:
            return
        at = self._clock.monotonic()
        with self._lock:
            first, self._requested = not self._requested, True
        reason = reason if first else ExitReason.CANCELLED
        self._rt.worker.submit(lambda snap: ender.request(snap, reason, max(grace, 0.0), at))

    def tree(self) -> list[ProcessInfo]:
        """Main, descendants and adopted daemons, now; the cost grows with the tree."""
        ender = self._ender
        if ender is None or self.done:
            return []
        roots = [ender.main.pid] if not ender.main.closed else []
        adopted = [entry for entry in trees.adoptions.of(self.run_id) if entry[0] not in roots]
        if adopted:
            self._rt.worker.submit(lambda snap: ender.adopt(snap, adopted))
        return self._infos.infos(trees.walk(roots + [pid for pid, _ in adopted]))

    # --- wiring (start_process) ---

    def _attach(
        self,
        popen: subprocess.Popen[bytes],
        ender: TreeEnder,
        output: OutputReader,
    ) -> None:
        self._popen, self._ender, self._output = popen, ender, output
        self.pid = popen.pid
        self._output_closed = False
        output.start()
        ender.start()

    def _start_failed(self, error: str) -> None:
        self._finish(start_failed(error, self._clock.monotonic() - self._started))

    def _ended(self, ending: Ending) -> None:
        """Worker thread: the tree is gone; complete now, or once the output has drained."""
        result = ending.result(self._clock.monotonic() - self._started)
        with self._lock:
            self._pending = result
            ready = self._output_closed
        if ready:
            self._finish(result)
        elif self._output is not None:
            output = self._output
            self._timers.call_later(DRAIN, lambda: self._rt.pump.call_soon(output.force_close))

    def _main_reaped(self) -> None:
        if self._popen is not None and self._ender is not None:
            rc = self._ender.returncode
            self._popen.returncode = rc if rc is not None else -1  # so Popen never waits on it

    def _output_done(self) -> None:
        """Pump thread: EOF (or forced close) of the output pipe."""
        with self._lock:
            self._output_closed = True
            result = self._pending
        if result is not None:
            self._finish(result)

    def _finish(self, result: ExitResult) -> None:
        truncated = self._output.truncated if self._output is not None else None
        if truncated is not None:
            result = dataclasses.replace(
                result, message=f"{result.message}; {truncated}", log_truncated=truncated
            )
        with self._lock:
            if self._result is not None:
                return
            self._result = result
        self._done.set()
        if self._on_exit is not None:
            try:
                self._on_exit(result)
            except Exception:
                log.exception("run %s: on_exit callback failed", self.run_id)
