"""State reports survive a control-plane outage: retried until they land, applied once."""

from __future__ import annotations

from supervisor.errors import ControlPlaneUnavailable
from supervisor.models import StateType
from tests.actors.harness import start_harness
from tests.waiting import wait_until


def test_reports_made_during_an_outage_land_once_it_ends(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        h.wait_state(run, StateType.RUNNING)
        # Given the control plane fails the next 4 calls
        h.plane.fail_next(4, ControlPlaneUnavailable("database is locked"), only={"set_state"})
        process.exit(0)
        wait_until(lambda: h.in_flight() == 0)  # the slot is free although nothing landed yet
        reporter = lambda: h.sup.board.get("state-reporter")  # noqa: E731
        wait_until(lambda: reporter()["owns"].get("pending") == 1, message="report held back")
        # When time passes (backoff timers fire), the terminal report lands
        for _ in range(60):
            if reporter()["owns"].get("pending") == 0:
                break
            h.advance(1.0)
        assert h.state(run) is StateType.COMPLETED
        types = [s.type for s in h.plane.read_states(run.id)]
        assert types.count(StateType.COMPLETED) == 1
        assert h.sup.board.get("state-reporter")["owns"]["pending"] == 0
    finally:
        h.sup.stop()
