"""Parsing of command-line values into domain values; each bad value is a one-line UsageError
naming the option and the value."""

from __future__ import annotations

import argparse
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from supervisor.errors import UsageError

if TYPE_CHECKING:
    from supervisor.models import StateType


def parse_params(items: Iterable[str] | None) -> dict[str, Any]:
    """`key=value` pairs; a value that parses as JSON is taken as JSON (`n=3` → 3), else kept
    as a string. A later key wins."""
    params: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UsageError(f"--param {item!r} must look like key=value")
        params[key.strip()] = _json_or_text(value)
    return params


def _refuse_constant(name: str) -> Any:
    raise ValueError(name)  # NaN and Infinity are not JSON; keep such values as text


def _json_or_text(value: str) -> Any:
    try:
        return json.loads(value, parse_constant=_refuse_constant)
    except ValueError:
        return value


def parse_time(
    value: str | None, option: str = "--at", not_before: timedelta | None = None
) -> datetime | None:
    """An ISO-8601 time; without a timezone it is local time. Returned timezone-aware.

    With `not_before`, a time further than that in the past is refused (a typo, or a clock
    that is wrong: such a run would only start at once as "late")."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
        moment = moment.astimezone() if moment.tzinfo is None else moment
    except (ValueError, OverflowError):
        raise UsageError(
            f"{option} {value!r} is not an ISO-8601 time (e.g. 2026-01-31T09:30 or "
            "2026-01-31T09:30:00+01:00)"
        ) from None
    if not_before is not None and moment < datetime.now(UTC) - not_before:
        raise UsageError(
            f"{option} {value!r} is more than a day in the past; leave out {option} to run now"
        )
    return moment


def parse_state(value: str | None) -> StateType | None:
    """A state type by name, case-insensitive."""
    from supervisor.models import StateType

    if value is None:
        return None
    try:
        return StateType[value.strip().upper()]
    except KeyError:
        valid = ", ".join(t.value for t in StateType)
        raise UsageError(f"--state {value!r} is not a state type (one of: {valid})") from None


def parse_run_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise UsageError(f"{value!r} is not a run id (a UUID)") from None


MAX_COUNT = 1_000_000
"""Largest count an option takes (`runs --limit`): SQLite integers are 64-bit."""
MAX_SECONDS = 86_400.0
"""Longest duration an option takes (`start --drain`): a day."""


def positive_int(value: str) -> int:
    """argparse type for counts: exits 2 with argparse's usage line on a bad value."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} must be at least 1")
    if number > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{value!r} must be at most {MAX_COUNT}")
    return number


def non_negative_float(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"{value!r} must be a finite number >= 0")
    if number > MAX_SECONDS:
        raise argparse.ArgumentTypeError(f"{value!r} must be at most {MAX_SECONDS:g} (a day)")
    return number
