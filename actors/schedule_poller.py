"""SchedulePollerActor: finds scheduled runs and hands each to the root at its scheduled time.

Each tick reads runs due before now + prefetch, oldest first. A run already due goes to the root
at once; a later one gets a timer for its exact time, so it starts neither early nor a poll
interval late. The root claims and starts it (or queues it until a slot frees).
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pykka

from actors.base import SystemContext, tell_quietly
from actors.messages import PollNow, RunDue, Tick
from actors.polling import PollerActor
from supervisor.timers import TimerHandle

ARRIVE_EARLY = 0.05
"""s before its time a run is handed to the root: its actor's thread starts and it claims the
run then, so at the time itself only the process is started (the slot is held 50 ms early)."""
CLAIM_EACH = 0.001
"""s more per run read ahead of its time (at most `limit` of them): a claim and an actor's start
cost ~1 ms of the one GIL, so 5,000 runs due at one instant need ~5 s of hand-over before it, or
they start seconds late. A slot is then held at most ARRIVE_EARLY + limit x CLAIM_EACH early."""


class PassDone:
    """`start --once`: the single pass has handed over every due run."""


class WantMore:
    """The root has free slots and nothing waiting: read again now if the last read may have
    left due runs unread (it was cut at its limit). Otherwise the next tick (or a nudge) finds
    what comes: a burst's ends asked for a read every 20 ms that found nothing."""


class SchedulePollerActor(PollerActor):
    kind = "schedule-poller"
    what = "reading scheduled runs"

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
        self._limit = ctx.settings.supervisor.limit
        self._read_limit = max(100, 4 * self._limit)
        self._cut = False  # the last read returned `_read_limit` runs: more may be due

    def interval(self) -> float:
        return self.ctx.settings.supervisor.poll_interval

    def stopping(self) -> None:
        for handle in self._timers.values():
            handle.cancel()

    def on_receive(self, message: Any) -> None:
        match message:
            case Tick():
                self._poll()
                if self.once:
                    self.parent.tell(PassDone())  # type: ignore[union-attr]
                else:
                    self.rearm(self.ctx.settings.supervisor.poll_jitter)
            case PollNow():
                if not self.once:
                    self._poll()
            case WantMore():
                if not self.once and self._cut:
                    self._poll()

    def _poll(self) -> None:
        now = self.ctx.clock.now()
        prefetch = 0.0 if self.once else self.ctx.settings.supervisor.prefetch
        runs = self.read(
            lambda: self.ctx.control_plane.read_scheduled_runs(
                self.deployments, now + timedelta(seconds=prefetch), self._read_limit
            )
        )
        if runs is None:
            return
        self._cut = len(runs) >= self._read_limit
        self._forget_fired()
        root = self.parent
        now = self.ctx.clock.now()  # after the read: its duration must not make timers late
        ahead = min(sum(1 for run in runs if run.scheduled_time > now), self._limit)
        early = ARRIVE_EARLY + CLAIM_EACH * ahead
        for run in runs:
            if run.id in self._timers:
                continue
            delay = (run.scheduled_time - now).total_seconds() - early
            if delay <= 0:
                root.tell(RunDue(run))  # type: ignore[union-attr]
            else:
                message = RunDue(run)
                self._timers[run.id] = self.ctx.scheduler.call_later(
                    delay, tell_quietly(root, message)  # type: ignore[arg-type]
                )
        self.ctx.board.own(self.name, timers=len(self._timers), last_read=len(runs))

    def _forget_fired(self) -> None:
        now = self.ctx.clock.monotonic()
        for run_id in [r for r, h in self._timers.items() if h.deadline <= now or h.cancelled]:
            del self._timers[run_id]
