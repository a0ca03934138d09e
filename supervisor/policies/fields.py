"""The deployment keys of the run policies (issue 14), mixed into `DeploymentSettings`.

Kept here so the policy keys and their checks sit next to the policies that read them.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import BaseModel, Field, field_validator, model_validator

HOUR, DAY = 3600.0, 86400.0
MAX_RETRIES = 1000
MAX_DELAY = 30 * DAY
MAX_CONCURRENCY = 10_000
MAX_LATE = 3650 * DAY

RetryOn = Literal["failed", "crashed"]
Hook = tuple[str, ...]


def _argv(value: object) -> object:
    if isinstance(value, str):
        raise ValueError('must be an argv list such as ["prog", "arg"], not a shell string')
    return value


class PolicyFields(BaseModel):
    """Retries, concurrency, late runs and hooks of one deployment."""

    retries: int = Field(
        0, ge=0, le=MAX_RETRIES, description="a FAILED or CRASHED run is retried up to N times"
    )
    retry_delay: float | tuple[float, ...] = Field(
        0.0, description="s before a retry: a number, or one per retry (the last one repeats)"
    )
    retry_on: tuple[RetryOn, ...] = Field(
        ("failed", "crashed"), description='which ends are retried: "failed", "crashed"'
    )
    concurrency: int | None = Field(
        None, ge=1, le=MAX_CONCURRENCY, description="most runs of this deployment at once"
    )
    collision: Literal["enqueue", "cancel-new"] = Field(
        "enqueue", description='at the concurrency limit: "enqueue" (wait) or "cancel-new"'
    )
    late_after: float | None = Field(
        None, ge=0, le=MAX_LATE, description='s past its time a SCHEDULED run is "Late" (15)'
    )
    skip_late_after: float | None = Field(
        None, gt=0, le=MAX_LATE, description="s; a run this late is CANCELLED instead of run"
    )
    on_failure: Hook | None = Field(None, description="argv run when a run ends FAILED/CRASHED")
    on_cancellation: Hook | None = Field(None, description="argv run when a run is CANCELLED")
    on_completion: Hook | None = Field(None, description="argv run when a run is COMPLETED")

    _hooks_are_lists = field_validator(
        "on_failure", "on_cancellation", "on_completion", mode="before"
    )(_argv)

    @field_validator("on_failure", "on_cancellation", "on_completion")
    @classmethod
    def _hook_not_empty(cls, value: Hook | None) -> Hook | None:
        if value is not None and (not value or not value[0]):
            raise ValueError("must be a non-empty argv list")
        return value

    @field_validator("retry_delay", mode="before")
    @classmethod
    def _number_or_numbers(cls, value: object) -> object:
        def number(item: object) -> bool:
            return isinstance(item, int | float) and not isinstance(item, bool)

        if number(value) or (isinstance(value, list | tuple) and all(map(number, value))):
            return value
        raise ValueError("must be a number or a list of numbers (s)")

    @field_validator("retry_delay")
    @classmethod
    def _delays(cls, value: float | tuple[float, ...]) -> float | tuple[float, ...]:
        delays = value if isinstance(value, tuple) else (value,)
        if not delays:
            raise ValueError("must be a number or a non-empty list of numbers")
        if any(not 0 <= d <= MAX_DELAY for d in delays):
            raise ValueError(f"every delay must be from 0 to {MAX_DELAY:g} s")
        return value

    @field_validator("retry_on")
    @classmethod
    def _retry_on_unique(cls, value: tuple[RetryOn, ...]) -> tuple[RetryOn, ...]:
        return tuple(dict.fromkeys(value))

    @model_validator(mode="after")
    def _late_before_skip(self) -> Self:
        late, skip = self.late_after, self.skip_late_after
        if late is not None and skip is not None and skip < late:
            raise ValueError(f"skip_late_after: must be at least late_after ({late:g})")
        return self
