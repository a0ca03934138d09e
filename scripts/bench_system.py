"""The system under measurement, embedded in the bench process as a host program would embed it.

`running_system(deployments, ...)` writes a settings file into a fresh temp folder (its own SQLite
database and logs), starts `Supervisor` with the child subreaper on, and hands back a `System`:
the supervisor, a separate control-plane connection for the bench's own requests (as a CLI
process has), and two recorders on the supervisor's seams:

- the `launcher` seam wraps `start_process`: each run's first stamp line (the child saying it is
  executing) and the moment the process layer reports its tree reaped and verified;
- the `control_plane` seam is a LocalControlPlane that notes when each terminal state landed.

On the way out it stops the supervisor and counts what any run left behind, by cookie.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench_stamp import parse_stamp

from supervisor.controlplane.batch import Answered, Proposal
from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import OrchestrationResult, State, StateType
from supervisor.process import ExitResult, RunProcess, start_process
from supervisor.settings import load_settings
from supervisor.system import Supervisor

COOKIE = b"SUPERVISOR_RUN_ID="


@dataclass
class Trace:
    """What one run's process told us, in this machine's CLOCK_MONOTONIC (seconds)."""

    run_id: str
    spawned: float
    stamp: tuple[float, float] | None = None  # the child's own (monotonic, realtime)
    ready_at: float | None = None  # when its ready line reached the supervisor
    ended_at: float | None = None  # when the tree was reaped and verified
    result: ExitResult | None = None
    process: RunProcess | None = None


class Recorder:
    """The launcher seam: starts processes exactly as the system does, and watches them.

    A run is ready at its first line starting with its deployment's ready prefix (default: the
    stamp, or `ready`)."""

    def __init__(self, ready: dict[str, tuple[str, ...]] | None = None) -> None:
        self.traces: dict[str, Trace] = {}
        self._prefixes = ready or {}
        self._cond = threading.Condition()
        self.ready = 0
        self.ended = 0
        self._targets: dict[str, int] = {}  # what `wait` waits for: notified once it is reached
        self._watchers = 0  # `wait_run` callers: notified at every step
        self.before_launch: Callable[[Any], None] | None = None
        """Called on the run actor's thread just before the process starts (a cancel racing
        the start: the run is claimed, PENDING, and not yet RUNNING)."""

    def launch(self, spec: Any, *, on_output: Any = None, on_exit: Any = None) -> RunProcess:
        trace = Trace(spec.run_id, time.monotonic())
        deployment = (spec.env or {}).get("SUPERVISOR_DEPLOYMENT", "")
        prefixes = self._prefixes.get(deployment, ("stamp ", "ready"))

        def output(line: str) -> None:
            if trace.ready_at is None and line.startswith(prefixes):
                trace.stamp = parse_stamp(line)
                trace.ready_at = time.monotonic()
                self._bump("ready")
            if on_output is not None:
                on_output(line)

        def exited(result: ExitResult) -> None:
            trace.ended_at = time.monotonic()
            trace.result = result
            self._bump("ended")
            if on_exit is not None:
                on_exit(result)

        self.traces[spec.run_id] = trace  # one dict store (atomic): no lock on the launch path
        if self.before_launch is not None:
            self.before_launch(spec)
        trace.process = start_process(spec, on_output=output, on_exit=exited)
        return trace.process

    def _bump(self, what: str) -> None:
        """Wakes a waiter only when what it waits for may hold: 5,000 wake-ups of the bench's
        main thread (a GIL hand-over each) were a cost of the measurement, not of the system."""
        with self._cond:
            value = getattr(self, what) + 1
            setattr(self, what, value)
            if self._watchers or value >= self._targets.get(what, value + 1):
                self._cond.notify_all()

    def wait(self, what: str, count: int, timeout: float) -> bool:
        """Until `count` runs are ready (or ended); False on timeout."""
        with self._cond:
            self._targets[what] = count
            try:
                return self._cond.wait_for(lambda: getattr(self, what) >= count, timeout)
            finally:
                del self._targets[what]

    def wait_run(self, run_id: uuid.UUID, what: str, timeout: float = 30.0) -> Trace:
        """One run's trace once its `what` ("ready_at", "ended_at") is known."""

        def known() -> bool:
            trace = self.traces.get(str(run_id))
            return trace is not None and getattr(trace, what) is not None

        with self._cond:
            self._watchers += 1
            try:
                if not self._cond.wait_for(known, timeout):
                    raise TimeoutError(f"run {run_id}: no {what} within {timeout:g}s")
            finally:
                self._watchers -= 1
            return self.traces[str(run_id)]


class RecordingPlane(LocalControlPlane):
    """The supervisor's own control plane, noting when each state it proposed was accepted."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.landed: dict[tuple[uuid.UUID, StateType], float] = {}
        self.ended: set[uuid.UUID] = set()
        self.answered: dict[uuid.UUID, StateType] = {}  # terminal proposals, however answered
        self._cond = threading.Condition()

    def set_state(self, run_id: uuid.UUID, state: State, **kw: Any) -> OrchestrationResult:
        result = super().set_state(run_id, state, **kw)
        self._note(run_id, state, result)
        return result

    def set_states(self, proposals: Sequence[Proposal]) -> Answered:
        """The batched path of the real adapter (one transaction), noted per proposal."""
        outcomes, down = LocalControlPlane.set_states(self, proposals)
        for proposal, outcome in zip(proposals, outcomes, strict=False):
            if isinstance(outcome, OrchestrationResult):
                self._note(proposal.run_id, proposal.state, outcome)
        return outcomes, down

    def _note(self, run_id: uuid.UUID, state: State, result: OrchestrationResult) -> None:
        if state.type.is_terminal:
            with self._cond:
                self.answered[run_id] = result.state.type if result.state else state.type
                self._cond.notify_all()
        if result.accepted:
            with self._cond:
                self.landed[(run_id, state.type)] = time.monotonic()
                if state.type.is_terminal:
                    self.ended.add(run_id)
                self._cond.notify_all()

    def wait_state(self, run_id: uuid.UUID, kind: StateType, timeout: float = 30.0) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: (run_id, kind) in self.landed, timeout):
                raise TimeoutError(f"run {run_id}: no {kind.value} within {timeout:g}s")
            return self.landed[(run_id, kind)]

    def wait_end(self, run_id: uuid.UUID, timeout: float = 30.0) -> StateType:
        """The state that stands once the supervisor's terminal report was answered (accepted,
        or ABORTed because the run was already terminal, e.g. cancelled before it started)."""
        with self._cond:
            if not self._cond.wait_for(lambda: run_id in self.answered, timeout):
                raise TimeoutError(f"run {run_id}: no terminal report within {timeout:g}s")
            return self.answered[run_id]

    def wait_terminal(self, count: int, timeout: float) -> bool:
        with self._cond:
            return self._cond.wait_for(lambda: len(self.ended) >= count, timeout)

    def last_terminal(self) -> float:
        with self._cond:
            return max(t for (_, kind), t in self.landed.items() if kind.is_terminal)


@dataclass
class System:
    supervisor: Supervisor
    plane: RecordingPlane  # the supervisor's connection
    client: LocalControlPlane  # the bench's own connection, like a CLI process
    recorder: Recorder
    config: Path
    extra: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def write_config(path: Path, data: dict[str, Any]) -> None:
    lines = []
    for section in ("supervisor", "ops"):
        lines.append(f"[{section}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in data[section].items()]
    for deployment in data["deployments"]:
        lines.append("[[deployments]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in deployment.items()]
    path.write_text("\n".join(lines) + "\n")


@contextmanager
def running_system(
    deployments: list[dict[str, Any]],
    *,
    ops: bool = False,
    ready: dict[str, tuple[str, ...]] | None = None,
    launcher: Callable[..., Any] | None = None,
    **supervisor: Any,
) -> Iterator[System]:
    """A fresh supervisor on a fresh database; on exit, stopped and checked for leftovers.
    `launcher` replaces the recorder's real one (which then records nothing)."""
    folder = Path(tempfile.mkdtemp(prefix="supervisor-bench-"))
    data = {
        "supervisor": {"name": "bench", "database": "state.db", "log_dir": "logs", **supervisor},
        "ops": {"enabled": ops, "port": free_port() if ops else 0},
        "deployments": deployments,
    }
    config = folder / "supervisor.toml"
    write_config(config, data)
    settings = load_settings(config, env={})
    plane = RecordingPlane(settings.supervisor.database)
    recorder = Recorder(ready)
    sup = Supervisor(
        settings, subreaper=True, ops_api=ops, control_plane=plane,
        launcher=launcher or recorder.launch,
    )
    sup.start()
    client = LocalControlPlane(settings.supervisor.database)
    system = System(sup, plane, client, recorder, config)
    try:
        yield system
    finally:
        sup.stop(timeout=60)
        client.close()
        plane.close()
        system.extra["left"] = settle_leftovers(set(recorder.traces))
        shutil.rmtree(folder, ignore_errors=True)


def cookie_carriers(run_ids: set[str]) -> list[int]:
    """Live (non-zombie) processes whose environment names one of `run_ids`."""
    wanted = {COOKIE + r.encode() for r in run_ids}
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environ = handle.read()
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                state = handle.read().rsplit(b")", 1)[-1].split()[0]
        except OSError:
            continue
        if state != b"Z" and any(v in wanted for v in environ.split(b"\0") if v[:6] == b"SUPERV"):
            found.append(int(entry.name))
    return found


def settle_leftovers(run_ids: set[str], kill: Callable[[int, int], None] = os.kill) -> int:
    """Count what the runs left; then SIGKILL it so the next figure starts clean."""
    left = cookie_carriers(run_ids)
    for pid in left:
        try:
            kill(pid, 9)
            os.waitpid(pid, 0)  # ours when adopted as subreaper: leave no zombie either
        except (OSError, ChildProcessError):
            pass
    return len(left)
