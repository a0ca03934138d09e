"""What every command needs: the settings named on the command line, the control plane they
point at, and a best-effort nudge of a live supervisor."""

from __future__ import annotations

import argparse
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from supervisor.controlplane.port import ControlPlane
    from supervisor.settings import Settings


def load(args: argparse.Namespace) -> Settings:
    """The settings from `--config`, else `$SUPERVISOR_CONFIG`, else `./supervisor.toml`."""
    from supervisor.settings import load_settings

    return load_settings(getattr(args, "config", None))


@contextlib.contextmanager
def control_plane(settings: Settings, *, register: bool = False) -> Iterator[ControlPlane]:
    """The control plane of these settings (embedded or Prefect), closed on exit.

    `register=True` upserts the config's deployments first, so commands work before any
    supervisor has run (registering is idempotent for an unchanged config).
    """
    from supervisor.controlplane.factory import open_control_plane

    plane = open_control_plane(settings)
    try:
        if register:
            plane.register_deployments(settings.deployments)
        yield plane
    finally:
        plane.close()


def display_path(path: Path | str) -> str:
    """A path as people typed it: relative to the working directory when it lies below it."""
    text = os.fspath(path)
    try:
        relative = os.path.relpath(text)
    except ValueError:
        return text
    return text if relative.startswith("..") else relative


def database_name(settings: Settings) -> str:
    return display_path(settings.supervisor.database)


def config_name(settings: Settings) -> str:
    return display_path(settings.config_path) if settings.config_path else "the settings"


def nudge(settings: Settings) -> bool:
    """Ask a live supervisor to look at the control plane now; False when none answered."""
    from supervisor.ops.client import nudge_supervisor

    return nudge_supervisor(settings)
