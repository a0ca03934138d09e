"""Which control plane a config points at: the embedded SQLite file, or a Prefect server."""

from __future__ import annotations

from collections.abc import Mapping

from supervisor.clock import Clock
from supervisor.controlplane.port import ControlPlane
from supervisor.settings import Settings


def open_control_plane(
    settings: Settings, *, clock: Clock | None = None, environment: Mapping[str, str] | None = None
) -> ControlPlane:
    """A connected control plane; raises ControlPlaneError (one line) when it cannot be used."""
    if settings.control_plane.kind == "prefect":
        from supervisor.controlplane.prefect import PrefectControlPlane

        return PrefectControlPlane(settings.control_plane, deployments=settings.deployments,
                                   environment=environment, clock=clock,
                                   worker=settings.supervisor.name)
    from supervisor.controlplane.local import LocalControlPlane

    return LocalControlPlane(settings.supervisor.database, clock=clock)
