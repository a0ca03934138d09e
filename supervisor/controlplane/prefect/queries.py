"""Prefect's `flow_runs/filter`, paged: newest first by criteria, or every run of a list of ids."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from supervisor.controlplane.prefect.http import PrefectHTTP
from supervisor.models import StateType

PAGE = 200  # Prefect's largest page


def state_criteria(states: Collection[StateType]) -> dict[str, Any]:
    """Runs in any of `states`; CANCELLING also asks for 2.x's legacy CANCELLED "Cancelling"
    (the caller keeps only what reads back as one of `states`)."""
    types = {s.value for s in states}
    if StateType.CANCELLING in states:
        types.add(StateType.CANCELLED.value)
    return {"state": {"type": {"any_": sorted(types)}}}


def newest(http: PrefectHTTP, criteria: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Up to `limit` runs matching `criteria`, newest expected start first."""
    found: list[dict[str, Any]] = []
    while len(found) < limit:
        page = http.call("POST", "flow_runs/filter", {
            "flow_runs": criteria, "sort": "EXPECTED_START_TIME_DESC",
            "limit": min(PAGE, limit - len(found)), "offset": len(found)})
        found += page
        if len(page) < PAGE:
            break
    return found


def by_ids(
    http: PrefectHTTP, ids: Sequence[str], criteria: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The runs among `ids` that match `criteria`, a page of ids per request."""
    found: list[dict[str, Any]] = []
    for start in range(0, len(ids), PAGE):
        found += http.call("POST", "flow_runs/filter", {"flow_runs": {
            **(criteria or {}), "id": {"any_": list(ids[start:start + PAGE])}}, "limit": PAGE})
    return found
