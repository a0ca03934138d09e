"""What every actor of one system shares, and the supervised-actor base class.

pykka has no supervision: an exception escaping a `tell` handler stops the actor and calls
`on_failure`, and one escaping `on_start` stops it *without* `on_failure`. `SupervisedActor`
turns both into a `ChildFailed` message to its parent, so the root sees every death.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, ClassVar

import pykka

from actors.board import ActorState, StatusBoard
from actors.directory import Directory
from actors.identity import ActorId
from actors.messages import ChildFailed, Tick
from actors.pool import ActorPool
from supervisor.clock import Clock
from supervisor.controlplane.port import ControlPlane
from supervisor.metrics import Metrics
from supervisor.outage import Outage
from supervisor.process import start_process
from supervisor.settings import Settings
from supervisor.timers import Scheduler, TimerHandle

logger = logging.getLogger("supervisor.actors")

ROOT_NAME = "supervisor"
"""The root's name on the board; every other actor is its child."""
STATE_REPORTER = "state-reporter"
SCHEDULE_POLLER = "schedule-poller"
CANCELLATION_POLLER = "cancellation-poller"


@dataclass(frozen=True)
class SystemContext:
    """Everything an actor may use besides its own messages; built once by the composition root."""

    settings: Settings
    control_plane: ControlPlane
    scheduler: Scheduler
    board: StatusBoard
    metrics: Metrics
    environment: Mapping[str, str] = field(default_factory=dict)
    """The base environment of run processes, captured once by the composition root."""
    launch: Callable[..., Any] = start_process
    """Starts a run's process tree (`supervisor.process.start_process`; a fake in unit tests)."""
    outage: Outage = field(default_factory=Outage)
    """Since when the control plane has been unavailable (for health)."""
    echo_runs: bool = False
    """Copy every line of run output into the supervisor's own log (`start --echo-runs`)."""
    pool: ActorPool = field(default_factory=ActorPool)
    """The threads that serve pooled actors (run actors): a few, not one per run."""
    directory: Directory = field(default_factory=Directory)
    """The root's named children by name: how any actor reaches a sibling (actors/directory.py)."""

    @property
    def clock(self) -> Clock:
        return self.scheduler.clock


def tell_quietly(ref: pykka.ActorRef[Any], message: Any) -> Callable[[], None]:
    """A timer's tell: an actor that stopped before its timer fired wants nothing any more."""

    def tell() -> None:
        with contextlib.suppress(pykka.ActorDeadError):
            ref.tell(message)

    return tell


class SupervisedActor(pykka.ThreadingActor):
    """Base of every actor: reports its death to its parent and its state to the board."""

    kind = "actor"
    pooled: ClassVar[bool] = False
    """Served by the system's shared `ActorPool` rather than by a thread of its own: for actors
    there are many of (runs). The root and its few long-lived children keep their own threads,
    so a burst of runs never delays supervision."""

    def __init__(
        self, identity: ActorId, ctx: SystemContext, parent: pykka.ActorRef[Any] | None
    ) -> None:
        self.ctx = ctx  # before pykka's __init__, which asks for the inbox
        super().__init__()
        self.identity = identity
        self.name = str(identity)
        self.parent = parent
        self._timer: TimerHandle | None = None
        ctx.board.register(self.name, self.kind, ROOT_NAME if parent is not None else None)

    def _create_actor_inbox(self) -> Any:  # type: ignore[override]
        return self.ctx.pool.mailbox(self) if self.pooled else super()._create_actor_inbox()

    def _start_actor_loop(self) -> None:
        if self.pooled:
            self.ctx.pool.start(self.actor_inbox)  # type: ignore[arg-type]
        else:
            super()._start_actor_loop()

    # Hooks for subclasses -------------------------------------------------------------------------

    def started(self) -> None:
        """Runs in the actor's thread before any message."""

    def stopping(self) -> None:
        """Runs in the actor's thread when it stops (normally or after a failure)."""

    def handed_back(self) -> tuple[Any, ...]:
        """After a death in a handler: the messages its restarted self must get (pykka drops a
        dead actor's inbox). None by default; the state reporter hands back its queue, a storage
        puller its runs' requests."""
        return ()

    def inbox_of(self, kinds: type | tuple[type, ...]) -> list[Any]:
        """Empties this (dead) actor's inbox: the messages of `kinds`, in order; the rest go."""
        taken = []
        while not self.actor_inbox.empty():  # only this thread takes from it
            message = self.actor_inbox.get().message
            if isinstance(message, kinds):
                taken.append(message)
        return taken

    # pykka lifecycle ------------------------------------------------------------------------------

    def on_start(self) -> None:
        try:
            self.started()
        except Exception as exc:
            self._report_death(exc, "on_start")
            raise
        self.ctx.board.update(self.name, state=ActorState.RUNNING)

    def on_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with self.ctx.directory.quiet():  # pykka marked it dead: no tell can slip in after this
            handed_back = self.handed_back()
        self._report_death(exception_value, "handler", handed_back)

    def on_stop(self) -> None:
        self.cancel_timer()
        self.stopping()
        entry = self.ctx.board.get(self.name)
        if entry is not None and entry["state"] != ActorState.FAILED:
            self.ctx.board.update(self.name, state=ActorState.STOPPED)

    def _report_death(
        self, exc: BaseException | None, during: str, handed_back: tuple[Any, ...] = ()
    ) -> None:
        error = f"{type(exc).__name__}: {exc}" if exc else "unknown error"
        self.cancel_timer()
        self.ctx.board.update(self.name, state=ActorState.FAILED, last_error=error)
        if self.parent is not None:
            try:
                self.parent.tell(ChildFailed(self.identity, error, during, handed_back))
            except pykka.ActorDeadError:
                logger.error("%s died (%s) and its parent is gone", self.name, error)

    # Timers ---------------------------------------------------------------------------------------

    def tell_later(self, delay: float, message: Any) -> TimerHandle:
        """Send this actor `message` after `delay` seconds (time as a message, never a sleep)."""
        return self.ctx.scheduler.call_later(delay, tell_quietly(self.actor_ref, message))

    def arm_tick(self, interval: float, jitter: float = 0.0) -> None:
        """(Re-)arm the periodic Tick; called after each tick so ticks never pile up."""
        self.cancel_timer()
        delay = interval + (random.uniform(0, jitter) if jitter else 0.0)
        self._timer = self.tell_later(delay, Tick())

    def cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def ticked(self) -> None:
        self.ctx.board.update(self.name, last_tick=self.ctx.clock.now())
