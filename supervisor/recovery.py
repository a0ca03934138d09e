"""After a crash: close out the runs a previous incarnation of this supervisor left in flight.

Their leftover processes are found by cookie and ended (the process-tree sweep); each run becomes
CRASHED ("supervisor restarted"), or CANCELLED if it was being cancelled.
"""

from __future__ import annotations

import logging

from supervisor.controlplane.port import ControlPlane
from supervisor.models import IN_FLIGHT_STATES, Run, State, StateType
from supervisor.process import sweep_leftovers

logger = logging.getLogger("supervisor.recovery")


def resolve_orphans(
    control_plane: ControlPlane, supervisor: str, grace: float
) -> list[tuple[Run, State]]:
    """End the leftovers of this supervisor's in-flight runs; return the state each should get."""
    orphans = control_plane.read_runs(states=IN_FLIGHT_STATES, supervisor=supervisor, limit=100_000)
    if not orphans:
        return []
    ended = sweep_leftovers([str(run.id) for run in orphans], grace)
    resolved = []
    for run in orphans:
        count = ended.get(str(run.id), 0)
        left = f"; ended {count} leftover process{'es' if count != 1 else ''}" if count else ""
        if run.state.type is StateType.CANCELLING:
            state = State.of(StateType.CANCELLED, f"supervisor restarted while cancelling{left}")
        else:
            state = State.of(StateType.CRASHED, f"supervisor restarted{left}")
        logger.warning(
            "run %s (%s) was left %s: %s",
            run.id,
            run.deployment,
            run.state.type.value,
            state.message,
        )
        resolved.append((run, state))
    return resolved
