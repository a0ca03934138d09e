"""Prefect's JSON and the port's values, both ways. Only fields both 2.19 and 3.4 accept are sent
(either server answers 422 to a field it does not know)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from supervisor.controlplane.prefect.journal import Claim
from supervisor.models import Run, State, StateType
from supervisor.settings import DeploymentSettings

INTERVAL_ANCHOR = "2000-01-01T00:00:00+00:00"
"""Interval schedules without an `anchor` step from here, as the local control plane's do."""

TRANSITION_NAMESPACE = uuid.UUID("0b7f4f3e-6d0c-4b0e-9a51-3d1f2f9b6c10")


def parse_time(value: str | None) -> datetime | None:
    """2.19 writes `+00:00`, 3.4 writes `Z`; both become aware UTC datetimes."""
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


def state_from(data: dict[str, Any] | None) -> State | None:
    """A Prefect state; 2.x's legacy "Cancelling" (type CANCELLED, that name) is CANCELLING."""
    if not data:
        return None
    kind = StateType(data["type"])
    name = data.get("name") or ""
    if kind is StateType.CANCELLED and name == "Cancelling":
        kind = StateType.CANCELLING
    return State(
        type=kind,
        name=name,
        message=data.get("message") or "",
        timestamp=parse_time(data.get("timestamp")) or datetime.now(UTC),
    )


def state_body(state: State, transition_id: uuid.UUID, scheduled_time: datetime | None = None
               ) -> dict[str, Any]:
    details: dict[str, Any] = {"transition_id": str(transition_id)}
    if scheduled_time is not None:
        details["scheduled_time"] = iso(scheduled_time)
    return {
        "type": state.type.value,
        "name": state.name,
        "message": state.message,
        "state_details": details,
    }


def transition_id(run_id: uuid.UUID, idempotency_key: str | None) -> uuid.UUID:
    """Fixed for a key, so a retried proposal is one transition to the server."""
    if idempotency_key is None:
        return uuid.uuid4()
    return uuid.uuid5(TRANSITION_NAMESPACE, f"{run_id}:{idempotency_key}")


def schedules_body(deployment: DeploymentSettings) -> list[dict[str, Any]]:
    """The `schedules` list both versions accept (3.4 refuses the legacy `schedule`)."""
    tz = deployment.timezone
    if deployment.interval is not None:
        anchor = deployment.anchor or INTERVAL_ANCHOR
        schedule: dict[str, Any] = {"interval": deployment.interval, "anchor_date": anchor,
                                    "timezone": tz}
    elif deployment.cron is not None:
        schedule = {"cron": deployment.cron, "timezone": tz}
    elif deployment.rrule is not None:
        schedule = {"rrule": deployment.rrule, "timezone": tz}
    else:
        return []
    return [{"schedule": schedule, "active": True}]


def same_schedules(wanted: list[dict[str, Any]], found: list[dict[str, Any]] | None) -> bool:
    """Whether the server's schedules are the ones we would send (ignoring server-made fields)."""
    def key(item: dict[str, Any]) -> tuple[Any, ...]:
        schedule = item.get("schedule") or {}
        interval = schedule.get("interval")
        anchor = parse_time(schedule.get("anchor_date")) if interval is not None else None
        return (float(interval) if interval is not None else None, anchor,
                schedule.get("cron"), schedule.get("rrule"), schedule.get("timezone") or "UTC",
                bool(item.get("active", True)))

    return sorted(map(key, wanted), key=repr) == sorted(map(key, found or []), key=repr)


def infrastructure_pid(hostname: str, pid: int) -> str:
    """As Prefect's agent writes it: `<hostname>:<pid>`."""
    return f"{hostname}:{pid}"


def pid_from(value: str | None) -> int | None:
    if not value:
        return None
    tail = value.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else None


def concurrency_body(deployment: DeploymentSettings) -> dict[str, Any]:
    """3.x only (2.19 answers 422): the deployment's `concurrency` as Prefect's own limit, so
    the server refuses a claim past it (into "AwaitingConcurrencySlot", or CANCELLED)."""
    strategy = "CANCEL_NEW" if deployment.collision == "cancel-new" else "ENQUEUE"
    limited = deployment.concurrency is not None
    return {"concurrency_limit": deployment.concurrency,
            "concurrency_options": {"collision_strategy": strategy} if limited else None}


def same_concurrency(wanted: dict[str, Any], found: dict[str, Any]) -> bool:
    limit = (found.get("global_concurrency_limit") or {}).get("limit")
    if limit is None:
        limit = found.get("concurrency_limit")
    options = found.get("concurrency_options") or {}
    strategy = options.get("collision_strategy") if limit is not None else None
    wanted_options = wanted.get("concurrency_options") or {}
    return (limit, strategy) == (wanted.get("concurrency_limit"),
                                 wanted_options.get("collision_strategy"))


def wait_for(answer_state: dict[str, Any] | None, now: datetime) -> float:
    """s until a state's `scheduled_time` (Prefect's AwaitingConcurrencySlot), at least 1."""
    details = (answer_state or {}).get("state_details") or {}
    when = parse_time(details.get("scheduled_time"))
    return max(1.0, (when - now).total_seconds()) if when is not None else 1.0


def run_from(data: dict[str, Any], deployment: str, claim: Claim | None) -> Run:
    """A flow run as the port's Run; what Prefect does not keep comes from our journal."""
    state = state_from(data.get("state")) or State.of(StateType(data["state_type"]))
    # A retry (AwaitingRetry) keeps its expected start; it is due at the next scheduled one.
    due = (parse_time(data.get("next_scheduled_start_time"))
           if state.type is StateType.SCHEDULED else None)
    scheduled = (due or parse_time(data.get("expected_start_time"))
                 or parse_time(data.get("next_scheduled_start_time"))
                 or state.timestamp)
    return Run(
        id=uuid.UUID(data["id"]),
        deployment=deployment,
        parameters=data.get("parameters") or {},
        state=state,
        scheduled_time=scheduled,
        start_time=parse_time(data.get("start_time")),
        end_time=((parse_time(data.get("end_time")) or state.timestamp)
                  if state.type.is_terminal else None),  # Prefect sets none if never started
        exit_code=claim.exit_code if claim else None,
        pid=(claim.pid if claim and claim.pid is not None
             else pid_from(data.get("infrastructure_pid"))),
        commit=claim.commit if claim else None,
        supervisor=claim.supervisor if claim else None,
        run_count=int(data.get("run_count") or 0),
    )
