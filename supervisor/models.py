"""Domain values shaped after Prefect's REST API, so a Prefect adapter maps onto them one to one.

Logic branches on `State.type`, never on `State.name` (names are for people: "Late", "TimedOut").
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


class StateType(enum.StrEnum):
    SCHEDULED = "SCHEDULED"
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CRASHED = "CRASHED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"
    PAUSED = "PAUSED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def default_name(self) -> str:
        return self.value.capitalize()


TERMINAL_STATES = frozenset(
    {StateType.COMPLETED, StateType.FAILED, StateType.CRASHED, StateType.CANCELLED}
)
IN_FLIGHT_STATES = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CANCELLING})


class State(BaseModel):
    """A run's state at one moment; every transition is kept with its timestamp and message."""

    model_config = ConfigDict(frozen=True)

    type: StateType
    name: str = ""
    message: str = ""
    timestamp: datetime = Field(default_factory=utcnow)

    def model_post_init(self, __context: Any) -> None:
        if not self.name:
            object.__setattr__(self, "name", self.type.default_name)

    @classmethod
    def of(cls, type_: StateType, message: str = "", name: str = "") -> State:
        return cls(type=type_, message=message, name=name)


class Run(BaseModel):
    """A flow run: one execution of a deployment. JSON field names are a public contract."""

    model_config = ConfigDict(frozen=True)

    id: uuid.UUID
    deployment: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    state: State
    scheduled_time: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    exit_code: int | None = None
    pid: int | None = None
    commit: str | None = None
    supervisor: str | None = None
    """Name of the supervisor that claimed the run (PENDING), if any."""
    run_count: int = 0
    """Attempts that reached RUNNING (Prefect's `run_count`): a retry is the same run again."""

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class OrchestrationStatus(enum.StrEnum):
    ACCEPT = "ACCEPT"
    REJECT = "REJECT"
    ABORT = "ABORT"
    WAIT = "WAIT"


class OrchestrationResult(BaseModel):
    """The control plane's answer to a proposed state, as Prefect's `set_state` answers."""

    model_config = ConfigDict(frozen=True)

    status: OrchestrationStatus
    state: State | None = None
    """The run's state after the proposal (the accepted one, or the one that stands)."""
    reason: str = ""
    retry_after: float | None = None
    """Seconds to wait before proposing again (WAIT only)."""

    @property
    def accepted(self) -> bool:
        return self.status is OrchestrationStatus.ACCEPT


class DeploymentInfo(BaseModel):
    """What `deployments` lists: a registered deployment and its schedule's next slot."""

    model_config = ConfigDict(frozen=True)

    name: str
    schedule: str | None
    """A one-line description: "every 60s", "cron */5 * * * * (UTC)", "rrule ... (Europe/Paris)"."""
    next_run_time: datetime | None
    paused: bool
    tags: tuple[str, ...] = ()
