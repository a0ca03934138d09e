"""The supervisor doing a Prefect runner's job against real 2.19.9 and 3.4.25 servers.

Deployments are registered by the supervisor, runs are made by the server's scheduler or its API,
cancels come from the server (as from the Prefect UI); every run is a real process tree.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from supervisor.controlplane.prefect import PrefectControlPlane
from supervisor.controlplane.prefect.journal import Journal
from supervisor.settings import Settings, parse_settings
from supervisor.system import Supervisor
from tests import leaks
from tests.prefect.api import PrefectApi
from tests.prefect.postgres import shared_server
from tests.prefect.server import PrefectServer
from tests.prefect.test_contract import wipe
from tests.waiting import wait_until

pytestmark = pytest.mark.prefect

PY = sys.executable
PROGRAMS = Path(__file__).resolve().parents[1] / "programs"
RECORD = "import os, sys; open(sys.argv[1], 'a').write(os.environ['SUPERVISOR_RUN_ID'] + '\\n')"


@pytest.fixture(autouse=True)
def _clean_server(prefect_server: PrefectServer) -> Iterator[None]:
    """Each test leaves an empty server: a schedule left behind would keep its scheduler busy."""
    yield
    if prefect_server.running:
        wipe(prefect_server.api_url)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def settings_for(server: PrefectServer, tmp: Path, deployments: list[dict[str, Any]],
                 name: str = "edge", **supervisor: Any) -> Settings:
    data = {
        "supervisor": {"name": name, "poll_interval": 0.2, "cancel_poll_interval": 0.2,
                       "kill_grace": 2.0, **supervisor},
        "ops": {"enabled": False},
        "control_plane": {"kind": "prefect", "api_url": server.api_url, "timeout": 10.0,
                          "journal": str(tmp / f"{name}.journal.db")},
        "deployments": deployments,
    }
    return parse_settings(data, tmp / "supervisor.toml", env={})


def deployment_id(api: PrefectApi, name: str) -> str:
    return str(api.read_deployment_by_name(name, name)["id"])


def states_of(api: PrefectApi, run_id: str) -> list[str]:
    return [s["type"] for s in sorted(api.read_states(run_id), key=lambda s: s["timestamp"])]


def test_a_scheduled_deployment_runs_when_the_server_schedules_it(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    # Given a deployment with a 5 s interval schedule, registered by the supervisor
    name, ran = unique("tick"), tmp_path / "ran.txt"
    settings = settings_for(prefect_server, tmp_path, [
        {"name": name, "command": [PY, "-c", RECORD, str(ran)], "interval": 5}])
    with Supervisor(settings):
        # When the server's own scheduler makes its runs
        found = wait_until(lambda: prefect_api.read_flow_runs(
            deployment_id(prefect_api, name), ["COMPLETED"]), 60, message="a scheduled run done")
    run = found[0]
    # Then one ran to COMPLETED through PENDING and RUNNING, not before its time
    assert run["auto_scheduled"] is True
    assert states_of(prefect_api, run["id"])[-3:] == ["PENDING", "RUNNING", "COMPLETED"]
    start = datetime.fromisoformat(run["start_time"].replace("Z", "+00:00"))
    assert start >= datetime.fromisoformat(run["expected_start_time"].replace("Z", "+00:00"))
    assert run["id"] in ran.read_text().split()
    host, _, pid = run["infrastructure_pid"].rpartition(":")
    assert host and pid.isdigit()


def test_a_run_created_with_the_servers_api_runs_with_its_parameters(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    name, out = unique("adhoc"), tmp_path / "params.json"
    code = "import os, sys; open(sys.argv[1], 'w').write(os.environ['SUPERVISOR_PARAMETERS'])"
    settings = settings_for(prefect_server, tmp_path, [
        {"name": name, "command": [PY, "-c", code, str(out)],
         "parameters": {"who": "world", "n": 1}}])
    with Supervisor(settings):
        run = prefect_api.create_flow_run(deployment_id(prefect_api, name), parameters={"n": 2})
        done = prefect_api.wait_for_state(run["id"], ["COMPLETED", "FAILED", "CRASHED"], 60)
    assert done["state_type"] == "COMPLETED"
    assert json.loads(out.read_text()) == {"who": "world", "n": 2}


def test_a_cancel_from_the_server_ends_an_adversarial_tree(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    # Given a run whose tree has a grandchild, a setsid daemon and a SIGTERM-ignorer
    name = unique("tree")
    script = (f"{PY} {PROGRAMS / 'daemon.py'} & {PY} {PROGRAMS / 'grandchild.py'} & "
              f"exec {PY} {PROGRAMS / 'ignores_term.py'}")
    settings = settings_for(prefect_server, tmp_path, [
        {"name": name, "command": ["sh", "-c", script]}])
    with Supervisor(settings):
        run = prefect_api.create_flow_run(deployment_id(prefect_api, name))
        prefect_api.wait_for_state(run["id"], ["RUNNING"], 60)
        wait_until(lambda: len(leaks.processes_of_session()) >= 5, 30, message="the whole tree")
        # When it is cancelled on the server, as from the Prefect UI
        prefect_api.cancel(run["id"])
        done = prefect_api.wait_for_state(run["id"], ["CANCELLED"], 30)
        # Then the whole tree is gone, and the run says how it ended
        assert leaks.processes_of_session() == []
    assert "cancelled" in (done["state"]["message"] or "").lower()
    assert states_of(prefect_api, run["id"])[-2:] == ["CANCELLING", "CANCELLED"]


@pytest.mark.timeout(420)
def test_three_supervisors_run_each_of_60_runs_exactly_once(
        prefect_server: PrefectServer, tmp_path: Path) -> None:
    with shared_server(prefect_server) as (server, api):  # Postgres-backed on 3.x
        three_supervisors_run_each_run_once(server, api, tmp_path)


def three_supervisors_run_each_run_once(server: PrefectServer, api: PrefectApi,
                                        tmp_path: Path) -> None:
    name, ran = unique("shared"), tmp_path / "ran.txt"
    deployments = [{"name": name, "command": [PY, "-c", RECORD, str(ran)]}]
    supervisors = [Supervisor(settings_for(server, tmp_path, deployments,
                                           name=f"edge-{i}", limit=4, poll_interval=1.0,
                                           cancel_poll_interval=2.0)) for i in range(3)]
    # the runs are made first: a SQLite server answers 503 to creates made under the polling
    setup = PrefectControlPlane(supervisors[0].settings.control_plane,
                                journal=Journal(tmp_path / "setup.journal.db"))
    setup.register_deployments(supervisors[0].settings.deployments)
    setup.close()
    dep = deployment_id(api, name)
    ids = [api.create_flow_run(dep)["id"] for _ in range(60)]
    try:
        for sup in supervisors:
            sup.start()
        wait_until(lambda: len(api.read_flow_runs(dep, ["COMPLETED"])) == 60, 180,
                   interval=0.5, message="60 runs completed")
    finally:
        for sup in supervisors:
            sup.stop()
    counts = Counter(ran.read_text().split())
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}


@pytest.mark.timeout(300)
def test_reports_made_during_a_60s_server_outage_land_once_it_is_back(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    # Given a run in flight
    name, gate = unique("outage"), tmp_path / "gate"
    code = ("import os, sys, time\n"
            "while not os.path.exists(sys.argv[1]): time.sleep(0.05)\n")
    settings = settings_for(prefect_server, tmp_path, [
        {"name": name, "command": [PY, "-c", code, str(gate)]}])
    with Supervisor(settings) as sup:
        run = prefect_api.create_flow_run(deployment_id(prefect_api, name))
        prefect_api.wait_for_state(run["id"], ["RUNNING"], 60)
        # When the server goes away for 60 s and the run ends meanwhile
        outage = 60.0
        prefect_server.stop()
        down = time.monotonic()
        gate.touch()
        wait_until(lambda: not sup.runs_in_flight(), 30, message="the run ended")
        time.sleep(max(0.0, outage - (time.monotonic() - down)))  # the outage itself, not a wait
        prefect_server.start()
        # Then its terminal report lands, once, after the RUNNING it made before
        done = prefect_api.wait_for_state(run["id"], ["COMPLETED", "FAILED", "CRASHED"], 60)
    assert done["state_type"] == "COMPLETED"
    assert states_of(prefect_api, run["id"]).count("COMPLETED") == 1
    assert states_of(prefect_api, run["id"])[-3:] == ["PENDING", "RUNNING", "COMPLETED"]


def test_kill_9_and_restart_leaves_no_run_running_and_no_process(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    name = unique("killed")
    config = tmp_path / "supervisor.toml"
    config.write_text(
        f'[supervisor]\nname = "edge-k"\npoll_interval = 0.2\nkill_grace = 1\n'
        f'[ops]\nenabled = false\n'
        f'[control_plane]\nkind = "prefect"\napi_url = "{prefect_server.api_url}"\n'
        f'[[deployments]]\nname = "{name}"\n'
        f'command = ["{PY}", "{PROGRAMS / "grandchild.py"}"]\n')
    argv = [PY, "-m", "supervisor", "--config", str(config), "start"]
    env = {**os.environ, "PREFECT_API_URL": ""}
    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        dep = deployment_id_when_registered(prefect_api, name)
        runs = [prefect_api.create_flow_run(dep)["id"] for _ in range(2)]
        for run_id in runs:
            prefect_api.wait_for_state(run_id, ["RUNNING"], 60)
        wait_until(lambda: len(leaks.processes_of_session()) >= 7, 30, message="both trees")
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait()
    # When it is started again (and told to stop once it has settled its past)
    again = subprocess.run([*argv[:-1], "start", "--once"], env=env, capture_output=True,
                           text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    for run_id in runs:
        found = prefect_api.read_flow_run(run_id)
        assert found["state_type"] == "CRASHED", found["state_name"]
        assert "supervisor restarted" in found["state"]["message"]
    assert leaks.processes_of_session() == []


def deployment_id_when_registered(api: PrefectApi, name: str) -> str:
    from tests.prefect.api import PrefectApiError

    def registered() -> str | None:
        try:
            return deployment_id(api, name)
        except PrefectApiError:
            return None

    found: str = wait_until(registered, 60, message=f"deployment {name} registered")
    return found



def test_a_flaky_command_succeeds_on_attempt_3_through_awaiting_retry(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    # Given a deployment retrying twice, 1 s apart, and a command that fails twice
    name, counter = unique("flaky"), tmp_path / "attempts"
    settings = settings_for(prefect_server, tmp_path, [
        {"name": name, "command": [PY, str(PROGRAMS / "flaky.py"), str(counter), "3"],
         "retries": 2, "retry_delay": 1}])
    with Supervisor(settings):
        run = prefect_api.create_flow_run(deployment_id(prefect_api, name))
        done = prefect_api.wait_for_state(run["id"], ["COMPLETED", "FAILED", "CRASHED"], 90)
    # Then the server saw one run go through AwaitingRetry twice, and count three attempts
    assert done["state_type"] == "COMPLETED" and done["run_count"] == 3
    names = [s["name"] for s in sorted(prefect_api.read_states(run["id"]),
                                       key=lambda s: s["timestamp"])]
    assert names.count("AwaitingRetry") == 2 and names.count("Running") == 3
    assert counter.read_text() == "3"


def test_runs_missed_by_more_than_skip_late_after_are_skipped_on_the_server(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    # Given runs the server holds from 3 h and 2 h ago, and one from 10 min ago
    name, ran = unique("catchup"), tmp_path / "ran.txt"
    settings = settings_for(prefect_server, tmp_path, [
        {"name": name, "command": [PY, "-c", RECORD, str(ran)], "skip_late_after": 3600}])
    now = datetime.now(UTC)
    with Supervisor(settings):
        made = [prefect_api.create_flow_run(deployment_id(prefect_api, name),
                                            scheduled_time=now - timedelta(seconds=late))
                for late in (3 * 3600, 2 * 3600, 600)]
        ends = [prefect_api.wait_for_state(r["id"], ["COMPLETED", "CANCELLED", "CRASHED"], 60)
                for r in made]
    # Then only the recent one ran; the others are CANCELLED "skipped", never started
    assert [e["state_type"] for e in ends] == ["CANCELLED", "CANCELLED", "COMPLETED"]
    assert all(e["state"]["message"].startswith("skipped: missed by ") for e in ends[:2])
    assert ran.read_text().split() == [made[2]["id"]]
