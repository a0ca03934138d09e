"""Who an actor is and where a run actor stands, as typed values rather than strings.

A run actor's identity carries its run id, so the root reads the run of a failed child from the
value instead of parsing it back out of a name. Names and phases render exactly as before
("run-<uuid>", "armed"): the board, the ops API's JSON and `status` show the same text.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum


@dataclass(frozen=True)
class RunActorId:
    """The identity of the actor of one run."""

    run_id: uuid.UUID

    def __str__(self) -> str:
        return f"run-{self.run_id}"


ActorId = str | RunActorId
"""A named actor (the root, "state-reporter", a storage puller's key) or a run's actor."""


class RunPhase(StrEnum):
    """A run actor's phase, in the order a run goes through them (some are skipped)."""

    CLAIMING = "claiming"
    QUEUED = "queued"
    """The claim was told to wait: its deployment's concurrency is taken."""
    ARMED = "armed"
    """Claimed a little early: starts at its scheduled time."""
    PREPARING = "preparing"
    """Its code is being checked out (or its job read again)."""
    RUNNING = "running"
    HOOK = "hook"
    """Its on_completion/on_failure hook runs."""
    REPORTING = "reporting"
    """Over; its slot is held until its final report lands."""
    DONE = "done"
