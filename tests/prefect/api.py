"""A tiny REST client for tests and benches to act on a Prefect server as a user would (the UI,
`prefect deployment run`, `prefect flow-run cancel`). It is NOT the adapter and knows nothing of
the supervisor; it sends only fields both 2.19 and 3.4 accept (FINDINGS.md §2).

Every call retries 408/429/502/503 and transport errors a few times: the SQLite server answers
503 "database is locked" under load, even to single requests. (A retried POST that had in fact
been applied could act twice; good enough for tests, not for the adapter.)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import httpx

RETRY_STATUS = {408, 429, 502, 503}
ATTEMPTS = 6
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


class PrefectApiError(RuntimeError):
    """A non-retryable answer (or retries exhausted): method, path, status and body."""


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat()


def interval_schedule(seconds: float, anchor: datetime | None = None) -> dict[str, Any]:
    """A `schedules` item body for an interval schedule (anchored now unless told)."""
    return {"interval": seconds, "anchor_date": iso(anchor or datetime.now(UTC))}


def cron_schedule(cron: str, timezone: str = "UTC") -> dict[str, Any]:
    return {"cron": cron, "timezone": timezone}


class PrefectApi:
    """REST helper on one server (`api_url` ends in /api). Use as a context manager or close()."""

    def __init__(self, api_url: str, timeout: float = 10.0) -> None:
        self.client = httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout)

    def __enter__(self) -> PrefectApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """The decoded JSON answer (None for 204); retries the retryable, raises the rest."""
        for attempt in range(ATTEMPTS):
            last = attempt == ATTEMPTS - 1
            try:
                response = self.client.request(method, path, json=body)
            except httpx.TransportError as error:
                if last:
                    raise PrefectApiError(f"{method} {path}: {error!r}") from error
            else:
                if response.status_code not in RETRY_STATUS or last:
                    break
            time.sleep(min(0.2 * 2**attempt, 2.0))
        if response.is_error:
            raise PrefectApiError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    # -- deployments ---------------------------------------------------------------------------

    def version(self) -> str:
        return self.request("GET", "/admin/version")

    def create_deployment(
        self,
        name: str,
        *,
        flow_name: str | None = None,
        schedules: Iterable[dict[str, Any]] = (),
        parameters: dict[str, Any] | None = None,
        paused: bool = False,
        **fields: Any,
    ) -> dict[str, Any]:
        """Upsert flow `flow_name` (default: `name`) and its deployment `name`; `schedules` are
        schedule bodies (interval_schedule, cron_schedule), each made active. Extra `fields`
        (entrypoint, path, tags, work_pool_name…) go into the deployment body as they are."""
        flow = self.request("POST", "/flows/", {"name": flow_name or name})
        body = {
            "name": name,
            "flow_id": flow["id"],
            "schedules": [{"schedule": s, "active": True} for s in schedules],
            "parameters": parameters or {},
            "paused": paused,
            **fields,
        }
        return self.request("POST", "/deployments/", body)

    def read_deployment(self, deployment_id: str) -> dict[str, Any]:
        return self.request("GET", f"/deployments/{deployment_id}")

    def read_deployment_by_name(self, flow_name: str, name: str) -> dict[str, Any]:
        return self.request("GET", f"/deployments/name/{flow_name}/{name}")

    # -- flow runs -----------------------------------------------------------------------------

    def create_flow_run(
        self,
        deployment_id: str,
        *,
        scheduled_time: datetime | None = None,
        parameters: dict[str, Any] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A run of the deployment, SCHEDULED now or at `scheduled_time`; `parameters` are merged
        over the deployment's by the server."""
        body: dict[str, Any] = dict(fields)
        if parameters is not None:
            body["parameters"] = parameters
        if scheduled_time is not None:
            details = {"scheduled_time": iso(scheduled_time)}
            body["state"] = {"type": "SCHEDULED", "name": "Scheduled", "state_details": details}
        return self.request("POST", f"/deployments/{deployment_id}/create_flow_run", body)

    def read_flow_run(self, run_id: str) -> dict[str, Any]:
        return self.request("GET", f"/flow_runs/{run_id}")

    def read_flow_runs(self, deployment_id: str, state_types: Iterable[str] = ()) -> list[Any]:
        """Runs of a deployment, optionally only those in `state_types`."""
        criteria: dict[str, Any] = {"deployment_id": {"any_": [deployment_id]}}
        if state_types:
            criteria["state"] = {"type": {"any_": list(state_types)}}
        return self.request("POST", "/flow_runs/filter", {"flow_runs": criteria})

    def read_states(self, run_id: str) -> list[dict[str, Any]]:
        """The run's state history, oldest first."""
        return self.request("GET", f"/flow_run_states/?flow_run_id={run_id}")

    def set_state(
        self,
        run_id: str,
        state_type: str,
        name: str | None = None,
        *,
        force: bool = False,
        message: str | None = None,
    ) -> dict[str, Any]:
        """Propose a state; the orchestration answer (branch on its `status`, not the HTTP code).
        A fixed transition_id makes a retried proposal harmless."""
        state = {
            "type": state_type,
            "name": name or state_type.capitalize(),
            "message": message,
            "state_details": {"transition_id": str(uuid.uuid4())},
        }
        body = {"state": state, "force": force}
        return self.request("POST", f"/flow_runs/{run_id}/set_state", body)

    def cancel(self, run_id: str) -> dict[str, Any]:
        """Cancel as the Prefect UI and `prefect flow-run cancel` do: propose CANCELLING."""
        return self.set_state(run_id, "CANCELLING", "Cancelling")

    def wait_for_state(
        self, run_id: str, types: Iterable[str], timeout: float = 30.0, interval: float = 0.1
    ) -> dict[str, Any]:
        """Poll until the run's state type is one of `types`; the run. AssertionError naming the
        last state seen when `timeout` passes."""
        wanted = set(types)
        deadline = time.monotonic() + timeout
        while True:
            run = self.read_flow_run(run_id)
            if run["state_type"] in wanted:
                return run
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"flow run {run_id} still {run['state_type']} ({run['state_name']}) after "
                    f"{timeout} s, waiting for {sorted(wanted)}"
                )
            time.sleep(interval)
