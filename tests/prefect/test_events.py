"""The events fast path on a real 3.4.25 server: with both polls an hour apart, only the
websocket can have delivered what these tests see (2.x has no websocket: the tests skip there)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from supervisor.controlplane.prefect.events import _Throttled
from supervisor.system import Supervisor
from tests import leaks
from tests.prefect.api import PrefectApi
from tests.prefect.server import PrefectServer
from tests.prefect.test_supervisor import deployment_id, settings_for, unique
from tests.waiting import wait_until

PY = sys.executable
HOUR = 3600.0


@pytest.fixture
def server3(prefect_server: PrefectServer) -> PrefectServer:
    if not prefect_server.version.startswith("3."):
        pytest.skip("a 2.x server has no events websocket")
    return prefect_server


@pytest.mark.prefect
def test_a_run_made_and_cancelled_on_the_server_is_heard_over_events(
        server3: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    # Given a supervisor that polls only hourly (after its first poll) and listens for events
    name = unique("pushed")
    code = "import subprocess; subprocess.run(['sleep', '600'])"
    settings = settings_for(server3, tmp_path, [{"name": name, "command": [PY, "-c", code]}],
                            poll_interval=HOUR, cancel_poll_interval=HOUR)
    settings = settings.model_copy(update={"control_plane": settings.control_plane.model_copy(
        update={"events": True})})
    with Supervisor(settings) as sup:
        wait_until(lambda: sup._events is not None and sup._events.connected.is_set(), 30,
                   interval=0.1, message="the events websocket connected")
        # When a run is made with the server's API: the Scheduled event starts it
        run = prefect_api.create_flow_run(deployment_id(prefect_api, name))
        prefect_api.wait_for_state(run["id"], ["RUNNING"], 30)
        wait_until(lambda: len(leaks.processes_of_session()) >= 2, 30, message="run + sleep")
        # And it is cancelled as from the UI: the Cancelling event ends its tree
        prefect_api.cancel(run["id"])
        prefect_api.wait_for_state(run["id"], ["CANCELLED"], 30)
        assert leaks.processes_of_session() == []


def test_throttled_calls_coalesce_within_a_gap() -> None:
    calls: list[int] = []
    throttled = _Throttled(lambda: calls.append(1), gap=HOUR)
    throttled()  # the first fires at once
    throttled()
    throttled()  # these two are owed, as one
    assert calls == [1]
    assert throttled.wait(1.0) == 1.0  # owed, but not due for an hour: block the full slice
    throttled.flush()  # not due yet: nothing
    assert calls == [1]
    assert _Throttled(lambda: None, gap=HOUR).wait(1.0) == 1.0  # nothing owed
    zero = _Throttled(lambda: calls.append(2), gap=0.0)
    zero()
    zero()
    assert calls == [1, 2, 2]
    assert zero.wait(1.0) == 1.0
