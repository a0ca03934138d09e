"""supervisor: an actor-model run supervisor.

Public surface: `Supervisor`, `load_settings`, `Settings`. Imports are lazy so that a run's child
process (`python -m supervisor.process.entrypoint`) does not pay for pykka and friends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Settings", "Supervisor", "__version__", "load_settings"]

if TYPE_CHECKING:
    from supervisor.settings import Settings, load_settings
    from supervisor.system import Supervisor


def __getattr__(name: str) -> Any:
    if name in ("Settings", "load_settings"):
        from supervisor import settings

        return getattr(settings, name)
    if name == "Supervisor":
        from supervisor.system import Supervisor

        return Supervisor
    raise AttributeError(f"module 'supervisor' has no attribute {name!r}")
