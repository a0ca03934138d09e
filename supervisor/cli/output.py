"""Printing for people (compact aligned tables) and for programs (JSON)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supervisor.models import Run


def print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, sort_keys=False)
    sys.stdout.write("\n")


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns left-aligned, two spaces apart, no trailing blanks."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def when(moment: datetime | None, zone: str | None = None) -> str:
    """Local time (or the time in IANA `zone`) to the second, with its offset; '-' when unset."""
    if moment is None:
        return "-"
    if zone is not None:
        from zoneinfo import ZoneInfo

        return moment.astimezone(ZoneInfo(zone)).isoformat(sep=" ", timespec="seconds")
    return moment.astimezone().isoformat(sep=" ", timespec="seconds")


def optional(value: object) -> str:
    return "-" if value is None else str(value)


def waiting_line(run: Run) -> str:
    """Said once on stderr by a command that waits for a run to start (`execute`, `logs -f`)."""
    return f"run {run.id} is scheduled for {when(run.scheduled_time)}; waiting"


RUN_HEADERS = ("ID", "DEPLOYMENT", "STATE", "SCHEDULED", "STARTED", "ENDED", "EXIT", "ATTEMPT")


def run_row(run: Run) -> tuple[str, ...]:
    return (
        str(run.id),
        run.deployment,
        run.state.name,
        when(run.scheduled_time),
        when(run.start_time),
        when(run.end_time),
        optional(run.exit_code),
        str(run.run_count) if run.run_count else "-",
    )
