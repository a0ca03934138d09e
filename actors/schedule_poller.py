"""SchedulePollerActor: finds scheduled runs and hands each to the root at its scheduled time.

Each tick reads runs due before now + prefetch, oldest first. A run already due goes to the root
at once; a later one gets a timer for its exact time, so it starts neither early nor a poll
interval late. The root claims and starts it (or queues it until a slot frees).
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

import pykka

from actors.base import SupervisedActor, SystemContext
from actors.messages import PollNow, RunDue, Tick
from actors.timers import TimerHandle
from supervisor.backoff import Backoff
from supervisor.errors import ControlPlaneError

logger = logging.getLogger("supervisor.schedule")


class PassDone:
    """`start --once`: the single pass has handed over every due run."""


class SchedulePollerActor(SupervisedActor):
    kind = "schedule-poller"

    def __init__(
        self,
        name: str,
        ctx: SystemContext,
        parent: pykka.ActorRef[Any],
        deployments: tuple[str, ...],
        once: bool = False,
    ) -> None:
        super().__init__(name, ctx, parent)
        self.deployments = deployments
        self.once = once
        self._timers: dict[uuid.UUID, TimerHandle] = {}
        sup = ctx.settings.supervisor
        self._backoff = Backoff("reading scheduled runs", logger, initial=sup.poll_interval)
        self._read_limit = max(100, 4 * sup.limit)

    def started(self) -> None:
        self.actor_ref.tell(Tick())

    def stopping(self) -> None:
        for handle in self._timers.values():
            handle.cancel()

    def on_receive(self, message: Any) -> None:
        sup = self.ctx.settings.supervisor
        match message:
            case Tick():
                delay = self._poll()
                if self.once:
                    self.parent.tell(PassDone())  # type: ignore[union-attr]
                else:
                    self.arm_tick(
                        delay if delay is not None else sup.poll_interval, sup.poll_jitter
                    )
            case PollNow():
                if not self.once:
                    self._poll()

    def _poll(self) -> float | None:
        """One read; returns a backoff delay when the control plane failed."""
        clock = self.ctx.clock
        now = clock.now()
        prefetch = 0.0 if self.once else self.ctx.settings.supervisor.prefetch
        started = clock.monotonic()
        try:
            runs = self.ctx.control_plane.read_scheduled_runs(
                self.deployments, now + timedelta(seconds=prefetch), self._read_limit
            )
        except ControlPlaneError as exc:
            self.ctx.metrics.poll_errors.labels(self.kind).inc()
            self.ctx.board.update(self.name, last_error=str(exc), failing=True)
            return self._backoff.failed(exc)
        self.ctx.metrics.poll_seconds.labels(self.kind).observe(clock.monotonic() - started)
        if self._backoff.failing:
            self._backoff.succeeded()
            self.ctx.board.update(self.name, failing=False)
        self.ticked()
        self._forget_fired()
        root = self.parent
        for run in runs:
            if run.id in self._timers:
                continue
            delay = (run.scheduled_time - now).total_seconds()
            if delay <= 0:
                root.tell(RunDue(run))  # type: ignore[union-attr]
            else:
                message = RunDue(run)
                self._timers[run.id] = self.ctx.scheduler.call_later(
                    delay,
                    lambda m=message: root.tell(m),  # type: ignore[misc, union-attr]
                )
        self.ctx.board.own(self.name, timers=len(self._timers), last_read=len(runs))
        return None

    def _forget_fired(self) -> None:
        now = self.ctx.clock.monotonic()
        for run_id in [r for r, h in self._timers.items() if h.deadline <= now or h.cancelled]:
            del self._timers[run_id]
