"""The composition root: `Supervisor(settings)` builds the control plane and the actor tree.

Embeddable: `start()` returns at once, `stop()` ends every run's tree and returns, and it works as
a context manager. It installs no signal handlers and changes no process-wide state unless asked
(`subreaper=True`; the CLI asks). It is also the ops API's view of the live system.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

from actors.base import SystemContext
from actors.board import StatusBoard, resolve
from actors.messages import CancelRequested, PollNow, Shutdown
from actors.run_source import OneRun, SchedulePolling
from actors.supervisor_actor import SupervisorActor
from supervisor.clock import Clock
from supervisor.controlplane.port import ControlPlane
from supervisor.errors import DeploymentNotFound, SupervisorAlreadyRunning, SupervisorError
from supervisor.health import judge
from supervisor.lease import hold_lease, lease_path
from supervisor.metrics import Metrics
from supervisor.models import StateType
from supervisor.process import start_process
from supervisor.settings import Settings
from supervisor.timers import Scheduler, ThreadScheduler

logger = logging.getLogger("supervisor")


class Supervisor:
    """One supervisor: its actors, its control plane connection and (optionally) its ops API."""

    def __init__(
        self,
        settings: Settings,
        *,
        subreaper: bool = False,
        ops_api: bool | None = None,
        once: bool = False,
        execute: uuid.UUID | None = None,
        control_plane: ControlPlane | None = None,
        scheduler: Scheduler | None = None,
        environment: Mapping[str, str] | None = None,
        launcher: Callable[..., Any] | None = None,
        echo_runs: bool = False,
    ) -> None:
        self.settings = settings
        self.name = settings.supervisor.name
        self.metrics = Metrics()
        self.board = StatusBoard()
        self.exit_code = 0
        self.error: str | None = None
        self._subreaper = subreaper
        self._ops_enabled = settings.ops.enabled if ops_api is None else ops_api
        self._once = once
        self._execute = execute
        self._control_plane = control_plane
        self._owns_control_plane = control_plane is None
        self._scheduler = scheduler
        self._environment = dict(os.environ if environment is None else environment)
        self._launcher = launcher
        self._echo_runs = echo_runs
        self._stopped = threading.Event()
        self._root: Any = None
        self._ops: Any = None
        self._ctx: SystemContext | None = None
        self._events: Any = None
        self._held = contextlib.ExitStack()  # the name's lease, while we run
        self._trees: weakref.WeakSet[Any] = weakref.WeakSet()  # runs' processes, until collected
        self._trees_lock = threading.Lock()
        self._timers_kept: Scheduler | None = None  # after a hard stop, until the trees end

    # lifecycle ------------------------------------------------------------------------------------

    def start(self) -> None:
        """Register the deployments, start the actors and the ops API; return at once."""
        if self._subreaper:
            from supervisor.process import enable_subreaper

            if not enable_subreaper():
                logger.warning("could not become a child subreaper; daemons may escape")
        try:
            self._start()
        except BaseException:
            self._close()  # a partial start leaves nothing running
            raise

    def _start(self) -> None:
        recover = True
        if self._control_plane is None:
            from supervisor.controlplane.factory import open_control_plane

            plane = self.settings.control_plane
            if plane.kind == "prefect":  # one journal per name, as one database per name
                beside, on = plane.journal, f"Prefect server {plane.api_url}"
            else:
                beside = self.settings.supervisor.database
                on = f"database {beside}"
            self._control_plane = open_control_plane(self.settings, environment=self._environment)
            recover = self._take_lease(lease_path(beside, self.name), on)
        self._control_plane.register_deployments(self.settings.deployments)
        self.settings.supervisor.log_dir.mkdir(parents=True, exist_ok=True)
        # One scheduler (one timer thread, one clock) for the actors and their runs' processes.
        scheduler = self._scheduler or ThreadScheduler()
        self._scheduler = scheduler
        self._ctx = SystemContext(
            self.settings,
            self._control_plane,
            scheduler,
            self.board,
            self.metrics,
            self._environment,
            launch=self._launcher or self._launch,
            echo_runs=self._echo_runs,
        )
        if self._ops_enabled:
            self._start_ops()
        source = SchedulePolling(self._once) if self._execute is None else OneRun(self._execute)
        self._root = SupervisorActor.start(self._ctx, self._on_stopped, source, recover)
        self._listen_for_cancels()

    def _launch(self, spec: Any, **callbacks: Any) -> Any:
        """Start a run's tree with its deadlines on our scheduler, and remember it until it is
        done: `_close` must not stop the timers of a tree still ending."""
        on_exit = callbacks.pop("on_exit", None)

        def exited(result: Any) -> None:
            try:
                if on_exit is not None:
                    on_exit(result)
            finally:
                self._close_timers_after_trees()

        tree = start_process(spec, scheduler=self._scheduler, on_exit=exited, **callbacks)
        with self._trees_lock:
            self._trees.add(tree)
        return tree

    def _close_timers_after_trees(self) -> None:
        """After a hard stop, the last tree to end closes the scheduler it kept running."""
        with self._trees_lock:
            scheduler = self._timers_kept
            if scheduler is None or any(not tree.done for tree in self._trees):
                return
            self._timers_kept = None
        scheduler.close()

    def _take_lease(self, path: os.PathLike[str], on: str) -> bool:
        """Hold the name's lease (see supervisor/lease.py); True when we may recover its runs.

        A second supervisor of the name is refused. `execute` alongside a live one runs its
        run but leaves recovery to the lease holder."""
        try:
            self._held.enter_context(hold_lease(Path(path), self.name, on=on))
        except SupervisorAlreadyRunning:
            if self._execute is None:
                raise
            logger.info("supervisor %r runs elsewhere; it recovers its crashed runs", self.name)
            return False
        return True

    def _listen_for_cancels(self) -> None:
        """A control plane that pushes events (Prefect 3's websocket) is heard at once: a cancel
        ends its run's tree, a new run nudges the pollers; polling stays the safety net."""
        subscribe = getattr(self._control_plane, "cancel_events", None)
        if subscribe is None or not self.settings.control_plane.events:
            return
        self._events = subscribe()
        if self._events is not None:
            self._events.start(lambda run_id: self._tell_root(CancelRequested(run_id, "Prefect")),
                               self.nudge)

    def _start_ops(self) -> None:
        from supervisor.ops.server import OpsServer

        token = self._environment.get(self.settings.ops.token_env) or None
        self._ops = OpsServer(self, self.settings.ops.host, self.settings.ops.port, token)
        self._ops.start()

    @property
    def ops_url(self) -> str | None:
        return self._ops.url if self._ops is not None else None

    def _on_stopped(self, exit_code: int, error: str | None) -> None:
        self.exit_code = exit_code
        self.error = error
        self._stopped.set()

    def stop(self, timeout: float = 60.0, *, drain: float = 0.0) -> None:
        """Stop polling, end every run's tree (after up to `drain` s), stop the actors."""
        self._tell_root(Shutdown(drain=drain))
        if not self._stopped.wait(timeout + drain):
            logger.error("actors did not stop within %gs; stopping them hard", timeout + drain)
        self._close()

    def kill(self) -> None:
        """A second signal: end every tree now, no grace."""
        self._tell_root(Shutdown(immediate=True))

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the system has stopped by itself (`--once`, `execute`, a fatal error)."""
        stopped = self._stopped.wait(timeout)
        if stopped:
            self._close()
        return stopped

    def _close(self) -> None:
        if self._events is not None:
            self._events.stop()
            self._events = None
        if self._root is not None:
            self._root.stop(block=True, timeout=10)
            self._root = None
        if self._ops is not None:
            self._ops.stop()
            self._ops = None
        if self._scheduler is not None:
            with self._trees_lock:
                ending = sum(not tree.done for tree in self._trees)
                if ending:  # a hard stop: their grace and drain deadlines must still fire
                    self._timers_kept = self._scheduler
            if ending:
                logger.warning("%d run trees still ending; their timers keep running", ending)
            else:
                self._scheduler.close()
        if self._ctx is not None:
            self._ctx.pool.close()
        if self._control_plane is not None and self._owns_control_plane:
            self._control_plane.close()
            self._control_plane = None
        self._held.close()

    def _tell_root(self, message: Any) -> None:
        if self._root is not None:
            try:
                self._root.tell(message)
            except Exception:  # already stopped
                logger.debug("root gone", exc_info=True)

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # the ops view ---------------------------------------------------------------------------------

    def actor_states(self) -> list[dict[str, Any]]:
        """The actor tree, as `GET /actors` serves it; never waits on an actor."""
        return self.board.tree()

    def health(self) -> tuple[bool, str]:
        """(healthy, why): see supervisor/health.py."""
        if self._stopped.is_set():
            return False, "stopped"
        return judge(self.board, self.settings, self._ctx, polls_schedules=self._execute is None)

    def runs_in_flight(self) -> list[dict[str, Any]]:
        runs = []
        for node in self.board.entries():
            if node["kind"] != "run":
                continue
            owns = {key: resolve(value) for key, value in node["owns"].items()}
            run = dict(owns.get("run") or {})
            run.update(pid=owns.get("pid"), commit=owns.get("commit"), phase=owns.get("phase"))
            run["timeout"] = self._timeout(run.get("deployment"))
            tree = owns.get("tree")
            run["tree"] = tree if isinstance(tree, list) else []  # [] if it ended as we looked
            runs.append(run)
        return runs

    def run_in_flight(self, run_id: uuid.UUID) -> dict[str, Any] | None:
        return next((r for r in self.runs_in_flight() if r.get("id") == str(run_id)), None)

    def cancel_run(self, run_id: uuid.UUID, by: str = "the ops API") -> dict[str, Any]:
        run = self._plane().request_cancel(run_id)
        if run.state.type is StateType.CANCELLING:
            self._tell_root(CancelRequested(run_id, by))
        return run.to_json()

    def retry_run(self, run_id: uuid.UUID, by: str = "the ops API") -> dict[str, Any]:
        from supervisor.policies.retry import retry_finished

        clock = self._scheduler.clock if self._scheduler is not None else Clock()
        run = retry_finished(self._plane(), run_id, by, clock.now())
        self.nudge()
        return run.to_json()

    def shutdown(self) -> None:
        self._tell_root(Shutdown())

    def nudge(self) -> None:
        self._tell_root(PollNow())

    def deployments(self) -> list[dict[str, Any]]:
        return [
            {**info.model_dump(mode="json"), "timeout": self._timeout(info.name)}
            for info in self._plane().read_deployments()
        ]

    def recent_runs(
        self, deployment: str | None, state: StateType | None, limit: int
    ) -> list[dict[str, Any]]:
        states = None if state is None else (state,)
        found = self._plane().read_runs(deployment=deployment, states=states, limit=limit)
        return [run.to_json() for run in found]

    def run_now(self, deployment: str) -> dict[str, Any]:
        if self.settings.deployment(deployment) is None:
            raise DeploymentNotFound(f"no deployment named {deployment!r} on {self.name!r}")
        run = self._plane().create_run(deployment)
        self.nudge()
        return run.to_json()

    def set_paused(self, deployment: str, paused: bool) -> dict[str, Any]:
        self._plane().set_paused(deployment, paused)
        return next(d for d in self.deployments() if d["name"] == deployment)

    def run_log(self, run_id: uuid.UUID) -> tuple[Path, bool]:
        ended = self._plane().read_run(run_id).state.type.is_terminal
        return self.settings.supervisor.log_dir / f"{run_id}.log", ended

    def _plane(self) -> ControlPlane:
        if self._control_plane is None:
            raise SupervisorError("the supervisor is not running")
        return self._control_plane

    def _timeout(self, deployment: Any) -> float | None:
        found = self.settings.deployment(deployment) if isinstance(deployment, str) else None
        return found.timeout if found is not None else None


__all__ = ["Supervisor"]
