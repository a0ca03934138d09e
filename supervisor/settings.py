"""Validated settings, fixed at start: a TOML file, overridable from `SUPERVISOR_…` variables.

Lookup order for the file: `--config PATH`, else `$SUPERVISOR_CONFIG`, else `./supervisor.toml`.
Actors get these objects; nothing below the CLI reads `os.environ` for settings.
"""

from __future__ import annotations

import os
import tomllib
import zoneinfo
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from supervisor.errors import ConfigError
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


def config_path_from(explicit: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """`--config PATH`, else `$SUPERVISOR_CONFIG`, else `./supervisor.toml`."""
    if explicit:
        return Path(explicit)
    if env.get("SUPERVISOR_CONFIG"):
        return Path(env["SUPERVISOR_CONFIG"])
    return Path(DEFAULT_CONFIG)


def _env_overrides(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """`SUPERVISOR_LIMIT=8` sets `[supervisor] limit`; `SUPERVISOR_OPS_PORT=0` sets `[ops] port`.

    Only known keys are read: the product itself sets other `SUPERVISOR_…` names in run
    environments.
    """
    out: dict[str, dict[str, str]] = {}
    for section, model, prefix in (
        ("ops", OpsSection, ENV_PREFIX + "OPS_"),
        ("control_plane", ControlPlaneSection, ENV_PREFIX + "CONTROL_PLANE_"),
        ("supervisor", SupervisorSection, ENV_PREFIX),
    ):
        for key in model.model_fields:
            value = env.get(prefix + key.upper())
            if value is not None:
                out.setdefault(section, {})[key] = value
    return out


def _describe(error: ValidationError, path: Path, data: Mapping[str, Any]) -> str:
    first = error.errors()[0]
    loc = first["loc"]
    field = ""
    for part in loc:
        if isinstance(part, int):
            field += f"[{part}]"
        else:
            field += ("." if field else "") + str(part)
    if field.startswith("deployments[") and isinstance(loc[1], int):
        deployments = data.get("deployments") or []
        if loc[1] < len(deployments) and isinstance(deployments[loc[1]], dict):
            name = deployments[loc[1]].get("name")
            if name and isinstance(name, str) and name.isprintable():
                field = field.replace(
                    f"deployments[{loc[1]}]", f"deployments[{loc[1]}] ({name})", 1
                )
    message = _plain(first)
    key, sep, rest = message.partition(": ")
    if sep and key in DeploymentSettings.model_fields and field.startswith("deployments["):
        field, message = f"{field}.{key}", rest  # a schedule check names its field first
    where = f"{path}: {field}: " if field else f"{path}: "
    if first["type"] == "extra_forbidden":
        return f"{where}unknown key"
    if "input" in first and first["type"] not in ("missing",) and not isinstance(
        first["input"], dict
    ):
        return f"{where}{message} (got {first['input']!r})"
    return f"{where}{message}"


_TYPE_WORDS = {
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "model_attributes_type": "must be a table",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "path_type": "must be a path (a string)",
}


def _plain(error: Any) -> str:
    """pydantic's message in the product's words: no class names, bounds said plainly."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind in _TYPE_WORDS:
        return _TYPE_WORDS[kind]
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']}"
    message = str(error["msg"]).removeprefix("Value error, ")
    for prefix in ("Input should be ", "String should have ", "Input should have "):
        if message.startswith(prefix):
            return "must " + ("be " if "be" in prefix else "have ") + message[len(prefix):]
    return message


def _unusable_path(key: str, value: Path) -> str | None:
    """Why a `[supervisor]` path cannot be used, or None: a database that is a directory, a
    folder that is a file, or a file where a parent folder should be."""
    if key == "database" and value.is_dir():
        return "is a directory, not a file"
    if key != "database" and value.exists() and not value.is_dir():
        return "is a file, not a directory"
    for parent in value.parents:
        if parent.exists():
            return None if parent.is_dir() else f"{parent} is a file, not a directory"
    return None


def _check_paths(settings: Settings, path: Path, overrides: Mapping[str, Any]) -> None:
    sup = settings.supervisor
    for key, value in (
        ("database", sup.database), ("log_dir", sup.log_dir), ("work_dir", sup.work_dir)
    ):
        problem = _unusable_path(key, value)
        if problem is not None:
            origin = f" (from ${ENV_PREFIX}{key.upper()})" if key in overrides else ""
            raise ConfigError(f"{path}: supervisor.{key}: {problem} (got '{value}'){origin}")


def _resolve(settings: Settings, base: Path) -> Settings:
    sup = settings.supervisor
    changes = {
        key: (base / value) if not value.is_absolute() else value
        for key, value in (
            ("database", sup.database),
            ("log_dir", sup.log_dir),
            ("work_dir", sup.work_dir),
        )
    }
    deployments = tuple(_resolve_deployment(d, base) for d in settings.deployments)
    plane = settings.control_plane
    if not plane.journal.is_absolute():
        plane = plane.model_copy(update={"journal": base / plane.journal})
    return settings.model_copy(update={
        "supervisor": sup.model_copy(update=changes),
        "control_plane": plane,
        "deployments": deployments,
    })


def _resolve_deployment(deployment: DeploymentSettings, base: Path) -> DeploymentSettings:
    """A relative `cwd` is taken from the config's folder, except with storage (then it is
    inside the checkout); a relative storage `path` is taken from the config's folder."""
    changes: dict[str, Any] = {}
    cwd, storage = deployment.cwd, deployment.storage
    if cwd is not None and not cwd.is_absolute() and storage is None:
        changes["cwd"] = base / cwd
    if storage is not None and storage.path is not None and not storage.path.is_absolute():
        changes["storage"] = storage.model_copy(update={"path": base / storage.path})
    return deployment.model_copy(update=changes) if changes else deployment


def _prefect_api_url_from_env(data: dict[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """`$PREFECT_API_URL` stands in for a missing `api_url`, as it does for Prefect's own tools."""
    table = data.get("control_plane")
    if (isinstance(table, dict) and table.get("kind") == "prefect" and "api_url" not in table
            and env.get("PREFECT_API_URL")):
        return {**data, "control_plane": {**table, "api_url": env["PREFECT_API_URL"]}}
    return data


def parse_settings(
    data: Mapping[str, Any], path: Path, env: Mapping[str, str] | None = None
) -> Settings:
    """Validate a parsed TOML document; raise ConfigError naming the file, field and value."""
    merged: dict[str, Any] = dict(data)
    overrides = _env_overrides(os.environ if env is None else env)
    for section, values in overrides.items():
        table = merged.get(section)
        merged[section] = {**(table if isinstance(table, dict) else {}), **values}
    merged = _prefect_api_url_from_env(merged, os.environ if env is None else env)
    try:
        settings = Settings.model_validate({**merged, "config_path": path})
    except ValidationError as exc:
        message = _describe(exc, path, merged)
        loc = exc.errors()[0]["loc"]
        if len(loc) >= 2 and str(loc[1]) in overrides.get(str(loc[0]), {}):
            section = {"ops": "OPS_", "control_plane": "CONTROL_PLANE_"}.get(str(loc[0]), "")
            prefix = ENV_PREFIX + section
            message += f" (from ${prefix}{str(loc[1]).upper()})"
        raise ConfigError(message) from None
    resolved = _resolve(settings, path.resolve().parent)
    _check_paths(resolved, path, overrides.get("supervisor", {}))
    return resolved


def load_settings(
    path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Read and validate the settings file (see module docstring for the lookup order)."""
    environ = os.environ if env is None else env
    config = config_path_from(path, environ)
    try:
        with open(config, "rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError(f"{config}: no such settings file") from None
    except IsADirectoryError:
        raise ConfigError(f"{config}: is a directory, not a settings file") from None
    except PermissionError:
        raise ConfigError(f"{config}: permission denied") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{config}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{config}: not valid TOML: not UTF-8 text") from None
    return parse_settings(data, config, environ)
