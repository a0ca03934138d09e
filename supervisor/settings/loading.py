"""Reading a settings file: `SUPERVISOR_…` overrides, paths resolved from the file's folder, and
errors in the product's words, naming the file, the field and the value."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from supervisor.errors import ConfigError
from supervisor.settings.models import (
    DEFAULT_CONFIG,
    ENV_PREFIX,
    ControlPlaneSection,
    DeploymentSettings,
    OpsSection,
    Settings,
    SupervisorSection,
)


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
