"""Control planes: the port and its adapters (`local` SQLite, `memory` fake)."""

from supervisor.controlplane.port import ControlPlane

__all__ = ["ControlPlane"]
