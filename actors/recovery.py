"""The root's recovery step: the runs a previous incarnation of this supervisor left in flight.

Their leftover processes are ended and the runs' end states decided (supervisor/recovery.py) on a
thread of its own — a sweep can take a kill grace and more, and the root must keep hearing
Shutdown and ChildFailed meanwhile — and the step answers the root with a message. The root starts
polling only after that answer, so a run this incarnation claims is never taken for an orphan.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from typing import Any

import pykka

from supervisor.controlplane.port import ControlPlane
from supervisor.errors import ControlPlaneUnavailable
from supervisor.models import Run, State
from supervisor.recovery import resolve_orphans
from supervisor.settings import Settings

logger = logging.getLogger("supervisor")


@dataclass(frozen=True)
class Recover:
    """Look for orphaned runs again (the control plane was unavailable)."""


@dataclass(frozen=True)
class Recovered:
    """The step's answer: each orphaned run with the state it ends in."""

    resolved: tuple[tuple[Run, State], ...]


@dataclass(frozen=True)
class RecoveryFailed:
    """The step met an error: `retry` when the control plane was unavailable."""

    error: str
    retry: bool


def recover(settings: Settings, control_plane: ControlPlane, root: pykka.ActorRef[Any]) -> None:
    """Start the step; it answers `root` with Recovered or RecoveryFailed."""
    sup = settings.supervisor

    def step() -> None:
        answer: Recovered | RecoveryFailed
        try:
            answer = Recovered(tuple(resolve_orphans(control_plane, sup.name, sup.kill_grace)))
        except ControlPlaneUnavailable as exc:
            answer = RecoveryFailed(str(exc), retry=True)
        except Exception as exc:  # a bug: the root fails the system, it must not hang
            logger.exception("looking for orphaned runs failed")
            answer = RecoveryFailed(f"{type(exc).__name__}: {exc}", retry=False)
        with contextlib.suppress(pykka.ActorDeadError):
            root.tell(answer)

    threading.Thread(target=step, name="recovery", daemon=True).start()
