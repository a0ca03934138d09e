"""The settings' models: every key, its bounds and its checks (strict: unknown keys fail)."""

from __future__ import annotations

import zoneinfo
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from supervisor.policies.fields import PolicyFields

DEFAULT_CONFIG = "supervisor.toml"
ENV_PREFIX = "SUPERVISOR_"

# Bounds: every value must also work at run time (timers, SQLite integers, datetimes).
MAX_LIMIT = 10_000
"""Most runs at once: each holds a thread and a few descriptors."""
MAX_NAME = 100
"""Longest name: a supervisor's name is part of its lease file's name."""
HOUR, DAY = 3600.0, 86400.0
MAX_SECONDS = 3650 * DAY
"""Longest interval, timeout or pull interval (ten years): beyond it, datetimes overflow."""
MIN_INTERVAL = 0.01
"""Shortest schedule interval: a shorter one would create runs faster than they can start."""


def _check_name(value: str) -> str:
    if "/" in value or "%" in value:
        raise ValueError("must not contain '/' or '%'")
    if not value.isprintable():
        raise ValueError("must be printable (no newline, tab, NUL or other control character)")
    return value


def _not_empty(value: Any) -> Any:
    if isinstance(value, str) and not value.strip():
        raise ValueError("must not be empty")
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StorageSettings(_Strict):
    """Where a deployment's code comes from: a git repository (`url`) or a local folder (`path`)."""

    url: str | None = Field(None, description="git remote URL (file://, https://, ssh://)")
    path: Path | None = Field(None, description="a local directory used as is, never pulled")
    branch: str = Field("main", description="branch to follow (ignored when `commit` is set)")
    commit: str | None = Field(None, description="pin the deployment to this commit sha")
    pull_interval: float = Field(
        60.0, gt=0, le=MAX_SECONDS, description="s between pulls of the remote"
    )
    token_env: str | None = Field(
        None, description="name of the env var holding an HTTPS token for the remote"
    )

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.url is None) == (self.path is None):
            raise ValueError("set exactly one of `url` or `path`")
        return self


class DeploymentSettings(PolicyFields, _Strict):
    """One deployment: what to run, when, and within which limits (policies: PolicyFields)."""

    name: str = Field(
        min_length=1, max_length=MAX_NAME, description="unique name of the deployment"
    )
    command: tuple[str, ...] | None = Field(
        None, description="argv list to run; never a shell string"
    )
    entrypoint: str | None = Field(
        None,
        description="`path/to/file.py:func` or `package.module:func`, called with the parameters",
    )
    flow: str | None = Field(
        None,
        description="Prefect control plane: `file.py:fn`, a Prefect @flow run through Prefect's "
        "engine (`python -m prefect.engine`), which reports the run's states itself",
    )
    parameters: dict[str, Any] = Field(default_factory=dict, description="default run parameters")
    interval: float | None = Field(
        None, ge=MIN_INTERVAL, le=MAX_SECONDS, description="schedule: every N seconds"
    )
    anchor: str | None = Field(None, description="ISO-8601 anchor of an interval schedule")
    cron: str | None = Field(None, description="schedule: a 5-field cron expression")
    rrule: str | None = Field(None, description="schedule: an RFC 5545 recurrence rule")
    timezone: str = Field("UTC", description="IANA timezone of the schedule (DST-correct)")
    kill_grace: float | None = Field(
        None, ge=0, le=DAY, description="s from SIGTERM to SIGKILL; overrides [supervisor]"
    )
    timeout: float | None = Field(
        None, gt=0, le=MAX_SECONDS, description="s a run may take before it is killed"
    )
    tags: tuple[str, ...] = Field((), description="free-form labels")
    description: str = Field("", description="what the deployment does (shown by Prefect)")
    flow_name: str | None = Field(
        None, description="Prefect control plane: the flow it is filed under (default: its name)"
    )
    cwd: Path | None = Field(
        None, description="working directory; relative: to the checkout, else to the config file"
    )
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    storage: StorageSettings | None = Field(None, description="where the code comes from")

    _name_chars = field_validator("name")(_check_name)

    @field_validator("command", mode="before")
    @classmethod
    def _command_is_a_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise ValueError('must be an argv list such as ["prog", "arg"], not a shell string')
        return value

    @field_validator("command")
    @classmethod
    def _command_not_empty(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is not None and (not value or not value[0]):
            raise ValueError("must be a non-empty argv list")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError("unknown timezone (use an IANA name like 'Europe/Berlin')") from exc
        return value

    @model_validator(mode="after")
    def _what_and_when(self) -> Self:
        if self.flow is not None and (self.command is not None or self.entrypoint is not None):
            raise ValueError(
                "flow: set `flow` alone, without `command` or `entrypoint` (a Prefect @flow "
                "called as a plain entrypoint would create a second flow run on the server)")
        if self.flow is None and (self.command is None) == (self.entrypoint is None):
            raise ValueError("set exactly one of `command`, `entrypoint` or `flow`")
        if self.flow is not None and ":" not in self.flow:
            raise ValueError(f"flow: {self.flow!r} must look like 'file.py:fn'")
        schedules = [k for k in ("interval", "cron", "rrule") if getattr(self, k) is not None]
        if len(schedules) > 1:
            raise ValueError(f"set at most one schedule, got {', '.join(schedules)}")
        if self.entrypoint is not None and ":" not in self.entrypoint:
            raise ValueError(f"entrypoint {self.entrypoint!r} must look like 'file.py:func'")
        # Imported here: schedules pulls in croniter/dateutil, which the settings type need not.
        from supervisor.schedules import validate_schedule

        validate_schedule(self)
        return self

    @property
    def schedule_kind(self) -> str | None:
        kinds = ("interval", "cron", "rrule")
        return next((k for k in kinds if getattr(self, k) is not None), None)


class SupervisorSection(_Strict):
    """The `[supervisor]` table."""

    name: str = Field(
        "default",
        min_length=1,
        max_length=MAX_NAME,
        description="this supervisor's name; printable, no '/' or '%'",
    )
    limit: int = Field(4, ge=1, le=MAX_LIMIT, description="most runs at once")
    poll_interval: float = Field(1.0, gt=0, le=HOUR, description="s between scheduled-run polls")
    poll_jitter: float = Field(
        0.0, ge=0, le=HOUR, description="up to this many s added to each poll"
    )
    prefetch: float = Field(10.0, ge=0, le=HOUR, description="s ahead to read scheduled runs")
    cancel_poll_interval: float = Field(
        0.5, gt=0, le=HOUR, description="s between cancellation polls"
    )
    kill_grace: float = Field(10.0, ge=0, le=DAY, description="s from SIGTERM to SIGKILL")
    database: Path = Field(
        Path(".supervisor/state.db"), description="the embedded control plane (SQLite file)"
    )
    log_dir: Path = Field(Path(".supervisor/logs"), description="where run logs are written")
    work_dir: Path = Field(
        Path(".supervisor/work"), description="where storage checkouts are kept"
    )
    pause_on_shutdown: bool = Field(False, description="pause the deployments on shutdown")
    max_restarts: int = Field(
        3, ge=0, le=1000, description="child restarts allowed within restart_window"
    )
    restart_window: float = Field(
        60.0, gt=0, le=DAY, description="s over which max_restarts is counted"
    )

    _name_chars = field_validator("name")(_check_name)
    _paths_not_empty = field_validator("database", "log_dir", "work_dir", mode="before")(
        _not_empty
    )


class OpsSection(_Strict):
    """The `[ops]` table: the HTTP ops API."""

    enabled: bool = Field(True, description="serve the ops API")
    host: str = Field("127.0.0.1", description="address the ops API binds to")
    port: int = Field(8765, ge=0, le=65535, description="port of the ops API (0: any free port)")
    token_env: str = Field("SUPERVISOR_TOKEN", description="env var holding the ops API token")


class ControlPlaneSection(_Strict):
    """The `[control_plane]` table: where runs are scheduled and their states kept."""

    kind: Literal["local", "prefect"] = Field(
        "local", description='"local": the embedded SQLite file; "prefect": a Prefect server'
    )
    api_url: str | None = Field(
        None, description="Prefect API URL, e.g. http://127.0.0.1:4200/api ($PREFECT_API_URL)"
    )
    api_key_env: str | None = Field(
        None, description="env var holding a key sent as `Authorization: Bearer …`"
    )
    auth_string_env: str | None = Field(
        None, description="env var holding `user:password` for a 3.x server's basic auth"
    )
    timeout: float = Field(10.0, gt=0, le=600, description="s per request to the server")
    max_connections: int = Field(
        1, ge=1, le=100,
        description="requests to the server at once (1: a SQLite-backed 3.4.25 server stalled "
        "60-120 s under one supervisor's concurrent claims, reports and polls; raise it for a "
        "Postgres-backed server)",
    )
    journal: Path = Field(
        Path(".supervisor/journal.db"),
        description="local record of the runs this supervisor claimed (survives kill -9)",
    )
    events: bool = Field(
        False,
        description="on a 3.x server, also hear cancels and new runs on the events websocket "
        "(opt-in: on a SQLite-backed server one subscriber slowed a 20-run burst from 2.3 s to "
        "121 s)",
    )

    work_pool: str | None = Field(
        None, min_length=1, description="worker mode: run this work pool's flow runs (created as "
        'type "process" if missing)')
    work_queues: tuple[str, ...] = Field(
        (), description="worker mode: only these queues of the pool (created if missing)")
    work_queue_prefix: tuple[str, ...] = Field(
        (), description="worker mode: also the pool's queues whose name starts so (re-matched "
        "every queue_rematch_interval s)")
    queue_rematch_interval: float = Field(
        30.0, gt=0, le=HOUR, description="s between re-matches of work_queue_prefix")
    heartbeat_interval: float = Field(
        30.0, gt=0, le=HOUR, description="s between worker heartbeats to the pool")
    flow_python: str = Field(
        "python3", min_length=1,
        description="the Python (with prefect installed) that runs flows: "
        "`<flow_python> -m prefect.engine`")

    @field_validator("api_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @model_validator(mode="after")
    def _prefect_needs_a_url(self) -> Self:
        if self.kind == "prefect" and not self.api_url:
            raise ValueError('api_url: required when kind = "prefect" (or set $PREFECT_API_URL)')
        if self.work_pool is not None and self.kind != "prefect":
            raise ValueError('work_pool: needs kind = "prefect"')
        if self.work_pool is None and (self.work_queues or self.work_queue_prefix):
            raise ValueError("work_queues, work_queue_prefix: need a work_pool")
        return self


class Settings(_Strict):
    """The whole settings file. Relative paths are resolved against the file's folder."""

    supervisor: SupervisorSection = Field(
        default_factory=SupervisorSection,  # type: ignore[arg-type]
        description="the [supervisor] table: this supervisor's name, limits, intervals, paths",
    )
    ops: OpsSection = Field(
        default_factory=OpsSection,  # type: ignore[arg-type]
        description="the [ops] table: the HTTP ops API",
    )
    control_plane: ControlPlaneSection = Field(
        default_factory=ControlPlaneSection,  # type: ignore[arg-type]
        description="the [control_plane] table: the embedded database or a Prefect server",
    )
    deployments: tuple[DeploymentSettings, ...] = Field(
        (), description="what this supervisor runs"
    )

    @field_validator("deployments", mode="before")
    @classmethod
    def _array_of_tables(cls, value: Any) -> Any:
        if isinstance(value, dict):
            raise ValueError("must be an array of tables: write [[deployments]], not [deployments]")
        return value
    config_path: Path | None = Field(None, description="the file these settings came from")

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for index, deployment in enumerate(self.deployments):
            if deployment.name in seen:
                raise ValueError(
                    f"deployments[{index}].name: {deployment.name!r} is used by two deployments"
                )
            seen.add(deployment.name)
            if deployment.flow is not None and self.control_plane.kind != "prefect":
                raise ValueError(f"deployments[{index}].flow: needs a Prefect control plane "
                                 '([control_plane] kind = "prefect")')
        return self

    def deployment(self, name: str) -> DeploymentSettings | None:
        return next((d for d in self.deployments if d.name == name), None)

    def kill_grace_for(self, deployment: DeploymentSettings) -> float:
        if deployment.kill_grace is not None:
            return deployment.kill_grace
        return self.supervisor.kill_grace
