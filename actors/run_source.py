"""Where the root's runs come from: the schedule poller (`start`, and `start --once` for a single
pass), or the one run named on the command line (`execute RUN_ID`).

The root admits and supervises what a source hands it and knows nothing of the modes: the source
says when it is spent (then the system stops once no run is in flight) and, for `execute`, which
exit code its run's end gives.
"""

from __future__ import annotations

import uuid
from typing import Any, Protocol

from actors.base import CANCELLATION_POLLER, SCHEDULE_POLLER, SupervisedActor, SystemContext
from actors.cancellation_poller import CancellationPollerActor
from actors.schedule_poller import SchedulePollerActor
from supervisor.errors import ControlPlaneError
from supervisor.models import Run, State, StateType
from supervisor.runkind import deployment_of


class Root(Protocol):
    """What a source may ask of the root."""

    ctx: SystemContext

    def start_child(self, name: str, actor: type[SupervisedActor], *args: Any) -> None: ...
    def launch(self, run: Run) -> None: ...
    def fail(self, error: str) -> None: ...


class RunSource:
    spent = False
    """No run will come any more: the system stops by itself once none is in flight."""

    def start(self, root: Root) -> None:
        """Begin (after the recovery step). The runs of any source can be cancelled."""
        root.start_child(CANCELLATION_POLLER, CancellationPollerActor)

    def pass_done(self) -> None:
        """The schedule poller's single pass (`--once`) has handed over every due run."""
        self.spent = True

    def finished(self, run_id: uuid.UUID, state: State | None) -> int | None:
        """A run's slot is free (`state`: what it ended in, None if it never ran): the exit code
        the system ends with, when this run decides it."""
        return None


class SchedulePolling(RunSource):
    """`start`: every due run of our deployments, for ever; `once`: those due now, then stop."""

    def __init__(self, once: bool = False) -> None:
        self.once = once

    def start(self, root: Root) -> None:
        names = tuple(d.name for d in root.ctx.settings.deployments)
        root.start_child(SCHEDULE_POLLER, SchedulePollerActor, names, self.once)
        super().start(root)


class OneRun(RunSource):
    """`execute RUN_ID`: that run now, if it is SCHEDULED and of a deployment of ours, and no
    other; the exit code is 0 if it COMPLETED, else 1."""

    def __init__(self, run_id: uuid.UUID) -> None:
        self.run_id = run_id

    def start(self, root: Root) -> None:
        super().start(root)
        try:
            run = root.ctx.control_plane.read_run(self.run_id)
        except ControlPlaneError as exc:
            root.fail(f"execute: {exc}")
            return
        if run.state.type is not StateType.SCHEDULED:
            root.fail(f"execute: run {self.run_id} is {run.state.type.value}, not SCHEDULED")
            return
        if deployment_of(root.ctx.settings, run.deployment) is None:
            root.fail(f"execute: deployment {run.deployment!r} is not in the settings file")
            return
        self.spent = True
        root.launch(run)

    def finished(self, run_id: uuid.UUID, state: State | None) -> int | None:
        if run_id != self.run_id:
            return None
        return 0 if state is not None and state.type is StateType.COMPLETED else 1
