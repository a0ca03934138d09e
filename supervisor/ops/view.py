"""The contract between the ops API and the system it shows: the facade implements `SystemView`.

Reads must not block on a busy actor: they come from the status board. The server still bounds
every call (see guard.py), so a view that does block costs a 503, never a hung request.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pathlib import Path

    from supervisor.metrics import Metrics
    from supervisor.models import StateType


class SystemView(Protocol):
    name: str
    """The supervisor's name."""
    metrics: Metrics

    def health(self) -> tuple[bool, str]:
        """(ok, reason): ok when the pollers ticked recently."""
        ...

    def actor_states(self) -> list[dict[str, Any]]:
        """The actor tree (`StatusBoard.tree()`): name, kind, state, restarts, last_tick,
        last_error, owns, children."""
        ...

    def runs_in_flight(self) -> list[dict[str, Any]]:
        """Each: id, deployment, state {type, name, message, timestamp}, parameters,
        scheduled_time, start_time, pid, commit, timeout (s or None),
        tree: [{pid, ppid, command, cpu_percent, rss, create_time, status}]."""
        ...

    def run_in_flight(self, run_id: uuid.UUID) -> dict[str, Any] | None:
        """One run as in `runs_in_flight`, or None when it is not in flight here."""
        ...

    def cancel_run(self, run_id: uuid.UUID, by: str) -> dict[str, Any]:
        """Request the run's cancellation; return the run JSON. Raises RunNotFound."""
        ...

    def retry_run(self, run_id: uuid.UUID, by: str) -> dict[str, Any]:
        """A finished run again (SCHEDULED "AwaitingRetry", due now); return the run JSON.
        Raises RunNotFound, or RunNotFinished for a run that has not ended."""
        ...

    def shutdown(self) -> None:
        """Ask for a graceful stop; returns at once. (Stopping the OpsServer inside this call
        would wait on the very request that asked: hand the stop to another thread.)"""
        ...

    def nudge(self) -> None:
        """Poll at once (scheduled runs and cancellations)."""
        ...

    def deployments(self) -> list[dict[str, Any]]:
        """Each: name, schedule, next_run_time, paused, tags, timeout (s or None)."""
        ...

    def recent_runs(
        self, deployment: str | None, state: StateType | None, limit: int
    ) -> list[dict[str, Any]]:
        """Runs newest first, as the control plane has them (Run JSON)."""
        ...

    def run_now(self, deployment: str) -> dict[str, Any]:
        """Create a run due now and poll at once; return its JSON. Raises DeploymentNotFound."""
        ...

    def set_paused(self, deployment: str, paused: bool) -> dict[str, Any]:
        """Pause or resume a deployment's schedule; return it as `deployments` lists it."""
        ...

    def run_log(self, run_id: uuid.UUID) -> tuple[Path, bool]:
        """Where the run's output is written, and whether the run has ended. Raises
        RunNotFound."""
        ...
