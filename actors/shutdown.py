"""How the root stops, in order: no new runs (the schedule poller stops, waiting runs are
dropped), the deployments paused if the settings say so, the runs in flight drained for up to
`drain` s and then cancelled (killed at once on a second signal), then the children in reverse
start order and the state reporter last, once it has delivered what it holds (Drain → Drained).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from actors.base import SCHEDULE_POLLER, STATE_REPORTER, SupervisedActor, SystemContext
from actors.children import Children
from actors.messages import CancelRun, Drain, Drained
from actors.run_table import RunTable
from supervisor.errors import ControlPlaneError
from supervisor.process import ExitReason

logger = logging.getLogger("supervisor")


@dataclass(frozen=True)
class DrainOver:
    """The drain time of a shutdown is up: cancel what still runs."""


class ShutdownSequence:
    def __init__(
        self, ctx: SystemContext, children: Children, runs: RunTable, root: SupervisedActor
    ) -> None:
        self._ctx = ctx
        self._children = children
        self._runs = runs
        self._root = root
        self.active = False
        self._ending = False

    def begin(self, drain: float, immediate: bool) -> None:
        """Shutdown (again, for a second signal: `immediate`)."""
        first = not self.active
        self.active = True
        self._runs.clear_waiting()
        if first:
            self._children.stop(SCHEDULE_POLLER)
            if self._ctx.settings.supervisor.pause_on_shutdown:
                self._pause_deployments()
        if not self._runs:
            self.runs_ended()
        elif drain > 0 and not immediate:
            logger.info("draining %d runs for up to %gs", len(self._runs), drain)
            self._root.tell_later(drain, DrainOver())
        else:
            self.cancel_runs(immediate)

    def cancel_runs(self, immediate: bool) -> None:
        """End every run's tree: with its deployment's grace, or none (`immediate`). A run whose
        actor died has its tree ended here (the root owns it)."""
        for run_id, entry in self._runs:
            grace = 0.0 if immediate else None
            if entry.actor_error is None:
                entry.tell(CancelRun("supervisor shutting down", shutdown=True, grace=grace))
            elif entry.process is not None:
                entry.process.terminate(grace or 0.0, ExitReason.SHUTDOWN)
            logger.debug("cancelling %s for shutdown", run_id)

    def runs_ended(self) -> None:
        """No run is in flight: stop the children, the reporter last; the root hears Drained."""
        if self._ending:
            return
        self._ending = True
        self._children.stop_all(but=STATE_REPORTER)
        if STATE_REPORTER in self._children:
            self._children.tell(STATE_REPORTER, Drain(self._root.actor_ref))
        else:
            self._root.actor_ref.tell(Drained(0))

    def _pause_deployments(self) -> None:
        for deployment in self._ctx.settings.deployments:
            try:
                self._ctx.control_plane.set_paused(deployment.name, True)
            except ControlPlaneError as exc:
                logger.warning("could not pause %s: %s", deployment.name, exc)
