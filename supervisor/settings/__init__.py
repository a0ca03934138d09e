"""Validated settings, fixed at start: a TOML file, overridable from `SUPERVISOR_…` variables.

Lookup order for the file: `--config PATH`, else `$SUPERVISOR_CONFIG`, else `./supervisor.toml`.
Actors get these objects; nothing below the CLI reads `os.environ` for settings. The models are
in models.py, reading a file in loading.py.
"""

from supervisor.settings.loading import config_path_from, load_settings, parse_settings
from supervisor.settings.models import (
    DEFAULT_CONFIG,
    ENV_PREFIX,
    ControlPlaneSection,
    DeploymentSettings,
    OpsSection,
    Settings,
    StorageSettings,
    SupervisorSection,
)

__all__ = [
    "DEFAULT_CONFIG",
    "ENV_PREFIX",
    "ControlPlaneSection",
    "DeploymentSettings",
    "OpsSection",
    "Settings",
    "StorageSettings",
    "SupervisorSection",
    "config_path_from",
    "load_settings",
    "parse_settings",
]
