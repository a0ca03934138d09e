"""CancellationPollerActor: the safety net for cancels; the fast path is a nudge (`PollNow`).

Each tick asks the control plane which in-flight runs are CANCELLING and tells the root, which
routes the cancel to the run's actor. The root keeps this actor's view of in-flight runs current.
A run is told once: a CANCELLING run stays so until its tree is ended and its end reported, and
asking again about the runs already told (5,000 at a mass cancel, at every tick) re-read them
all and sent each of them to its actor again.
"""

from __future__ import annotations

import uuid
from typing import Any

from actors.messages import CancelRequested, InFlightChanged, PollNow, Tick
from actors.polling import PollerActor


class CancellationPollerActor(PollerActor):
    kind = "cancellation-poller"
    what = "reading cancellation requests"

    def interval(self) -> float:
        return self.ctx.settings.supervisor.cancel_poll_interval

    def started(self) -> None:
        self._in_flight: frozenset[uuid.UUID] = frozenset()
        self._told: set[uuid.UUID] = set()
        """In-flight runs whose cancel the root was told (forgotten once out of flight)."""
        super().started()

    def on_receive(self, message: Any) -> None:
        match message:
            case InFlightChanged(run_ids=run_ids):
                self._in_flight = run_ids
                self._told &= run_ids
                self.ctx.board.own(self.name, watching=len(run_ids))
            case Tick():
                self._poll()
                self.rearm()
            case PollNow():
                self._poll()

    def _poll(self) -> None:
        watched = self._in_flight.difference(self._told) if self._told else self._in_flight
        runs = self.read(
            lambda: self.ctx.control_plane.read_cancelling_runs(watched) if watched else []
        )
        for run in runs or ():
            self._told.add(run.id)
            self.parent.tell(CancelRequested(run.id, "a control-plane cancel request"))  # type: ignore[union-attr]
