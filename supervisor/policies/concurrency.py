"""Per-deployment concurrency: how many runs of each deployment hold a slot here, and what a
run due at the limit gets — wait its turn ("enqueue") or be cancelled ("cancel-new"), Prefect's
two collision strategies.

The root owns one `DeploymentSlots` beside its run table: a slot is taken when a run's actor
starts and given back with the run's slot, so the two can never disagree and nothing leaks (a
crashed supervisor's runs are closed out by recovery before polling starts).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable

from supervisor.controlplane.rules import over_concurrency
from supervisor.models import OrchestrationStatus
from supervisor.settings import DeploymentSettings, Settings


class DeploymentSlots:
    def __init__(
        self, settings: Settings, changed: Callable[[str, int], None] | None = None
    ) -> None:
        self._limits = {d.name: d.concurrency for d in settings.deployments}
        self._holders: dict[uuid.UUID, str] = {}
        self._counts: Counter[str] = Counter()
        self._changed = changed or (lambda name, count: None)

    def in_flight(self, deployment: str) -> int:
        return self._counts[deployment]

    def full(self, deployment: str) -> bool:
        limit = self._limits.get(deployment)
        return limit is not None and self._counts[deployment] >= limit

    def take(self, run_id: uuid.UUID, deployment: str) -> None:
        if run_id not in self._holders:
            self._holders[run_id] = deployment
            self._counts[deployment] += 1
            self._changed(deployment, self._counts[deployment])

    def give(self, run_id: uuid.UUID) -> None:
        """Idempotent: a run that held no slot gives nothing back."""
        deployment = self._holders.pop(run_id, None)
        if deployment is not None:
            self._counts[deployment] -= 1
            self._changed(deployment, self._counts[deployment])


def refusal(deployment: DeploymentSettings, in_flight: int) -> str | None:
    """For a run due while its deployment is at its limit: the CANCELLED message under
    "cancel-new", or None to enqueue it. The same words as the control planes' own check at
    the claim (`rules.over_concurrency`), which makes the limit hold across processes."""
    verdict = over_concurrency(deployment, in_flight)
    if verdict is None or verdict[0] is not OrchestrationStatus.ABORT:
        return None
    return verdict[1]
