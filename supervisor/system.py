"""The composition root: `Supervisor(settings)` builds the control plane and the actor tree.

Placeholder with the final public shape; the actor system (issue 4) fills it in.
"""

from __future__ import annotations

import threading
from types import TracebackType
from typing import Any

from supervisor.settings import Settings


class Supervisor:
    """Embeddable facade. `start()` returns at once; `stop()` ends every run's tree and returns.

    Installs no signal handlers and changes no process-wide state unless asked (`subreaper=True`).
    """

    def __init__(
        self, settings: Settings, *, subreaper: bool = False, ops_api: bool | None = None
    ) -> None:
        self.settings = settings
        self._subreaper = subreaper
        self._ops_api = settings.ops.enabled if ops_api is None else ops_api
        self._stopped = threading.Event()
        self.exit_code = 0

    def start(self) -> None:
        from supervisor.controlplane.local import LocalControlPlane

        plane = LocalControlPlane(self.settings.supervisor.database)
        try:
            plane.register_deployments(self.settings.deployments)
        finally:
            plane.close()

    def stop(self, timeout: float = 30.0, *, drain: float = 0.0) -> None:
        self._stopped.set()

    def kill(self) -> None:
        """Second signal: end every run's tree at once (no grace) and stop."""
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the system has stopped; True if it has."""
        return self._stopped.wait(timeout)

    def actor_states(self) -> list[dict[str, Any]]:
        return []

    def __enter__(self) -> Supervisor:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
