"""Worker mode against real 2.19.9 and 3.4.25 servers: the supervisor takes a process work pool's
flow runs, as Prefect's agent and process worker do, and runs real Prefect flows through
`python -m prefect.engine` (the server venv's Python as `flow_python`).
"""

from __future__ import annotations

import shlex
import shutil
import socket
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from supervisor.errors import ControlPlaneError
from supervisor.settings import Settings, parse_settings
from supervisor.system import Supervisor
from tests import leaks
from tests.prefect.api import PrefectApi
from tests.prefect.postgres import shared_server
from tests.prefect.server import PrefectServer
from tests.prefect.test_contract import wipe
from tests.waiting import wait_until

pytestmark = pytest.mark.prefect

FLOWS = Path(__file__).resolve().parent / "flows" / "flows.py"
ENDED = ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")
# Measured: a SQLite-backed 3.4.25 server stalls under two supervisors taking 40 runs (limit 4
# each): 17 ran in the first 5 s, then requests (even GET /flow_runs/{id}) time out at 10 s with
# 'database is locked' in its log; 18 of 40 had run, each once, after 120 s. The same test passes
# on 2.19.9 (SQLite) in ~17 s, and on 3.4.25 with Postgres.


@pytest.fixture(autouse=True)
def _clean_server(prefect_server: PrefectServer) -> Iterator[None]:
    yield
    if prefect_server.running:
        wipe(prefect_server.api_url)


@pytest.fixture
def flow_dir(tmp_path: Path) -> Path:
    where = tmp_path / "flows"
    where.mkdir()
    shutil.copy(FLOWS, where / "flows.py")
    return where


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def worker_settings(server: PrefectServer, tmp: Path, pool: str, name: str = "edge",
                    supervisor: dict[str, Any] | None = None, **plane: Any) -> Settings:
    data = {
        "supervisor": {"name": name, "poll_interval": 0.5, "cancel_poll_interval": 0.5,
                       "kill_grace": 2.0, "limit": 4, **(supervisor or {})},
        "ops": {"enabled": False},
        "control_plane": {"kind": "prefect", "api_url": server.api_url,
                          "journal": str(tmp / f"{name}.journal.db"), "work_pool": pool,
                          "flow_python": str(server.python), **plane},
    }
    return parse_settings(data, tmp / "supervisor.toml", env={})


def make_pool(api: PrefectApi, pool: str, kind: str = "process") -> None:
    api.request("POST", "/work_pools/", {"name": pool, "type": kind})


def pool_deployment(api: PrefectApi, server: PrefectServer, pool: str, flow_dir: Path,
                    entrypoint: str, queue: str | None = None, **fields: Any) -> str:
    """A deployment of the pool with `path`/entrypoint, and job variables (env, working_dir)."""
    variables = {"env": {"PREFECT_HOME": str(flow_dir.parent / "prefect-home"),
                         "FROM_JOB": "job-env"}, "working_dir": str(flow_dir)}
    key = "job_variables" if server.version.startswith("3.") else "infra_overrides"
    body: dict[str, Any] = {"entrypoint": entrypoint, "path": str(flow_dir),
                            "work_pool_name": pool, key: variables, **fields}
    if queue is not None:
        body["work_queue_name"] = queue
    name = unique(entrypoint.rsplit(":", 1)[-1])
    return str(api.create_deployment(name, **body)["id"])


def states_of(api: PrefectApi, run_id: str) -> list[str]:
    return [s["type"] for s in sorted(api.read_states(run_id), key=lambda s: s["timestamp"])]


def test_flows_in_a_process_pool_end_completed_failed_and_crashed(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path,
        flow_dir: Path) -> None:
    # Given a process pool with three deployments of real Prefect flows
    pool, out = unique("pool"), tmp_path / "out.txt"
    make_pool(prefect_api, pool)
    happy = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:happy")
    failing = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:failing")
    dies = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:dies")
    with Supervisor(worker_settings(prefect_server, tmp_path, pool)):
        # When a run of each is made on the server
        ok = prefect_api.create_flow_run(happy, parameters={"x": 21, "out": str(out)})["id"]
        bad = prefect_api.create_flow_run(failing)["id"]
        dead = prefect_api.create_flow_run(dies)["id"]
        ended = {r: prefect_api.wait_for_state(r, ENDED, 90, interval=0.5)
                 for r in (ok, bad, dead)}
        workers = prefect_api.request("POST", f"/work_pools/{pool}/workers/filter", {})
    # Then the flow ran with its parameters, job env and task, reported by the engine once
    assert ended[ok]["state_type"] == "COMPLETED", ended[ok]["state"]
    assert out.read_text() == "42 job-env"
    assert states_of(prefect_api, ok) == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]
    # (3.x records task runs from the engine's events, a moment after the flow's end)
    wait_until(lambda: [t["state_type"] for t in prefect_api.request(
        "POST", "/task_runs/filter", {"flow_runs": {"id": {"any_": [ok]}}})] == ["COMPLETED"],
        30, interval=0.5, message="its task run recorded COMPLETED")
    host, _, pid = ended[ok]["infrastructure_pid"].rpartition(":")
    assert host == socket.gethostname() and pid.isdigit()
    # the failing flow is FAILED by the engine, not also CRASHED by the supervisor
    assert ended[bad]["state_type"] == "FAILED"
    assert "boom" in ended[bad]["state"]["message"]
    assert states_of(prefect_api, bad)[-2:] == ["RUNNING", "FAILED"]
    # os._exit(3) leaves the run RUNNING: the supervisor says it CRASHED, and why
    assert ended[dead]["state_type"] == "CRASHED"
    assert "code 3" in ended[dead]["state"]["message"], ended[dead]["state"]["message"]
    # and the supervisor showed as an online worker of the pool
    assert [w["name"] for w in workers] == [f"edge@{socket.gethostname()}"]
    assert leaks.processes_of_session() == []


def test_a_cancel_from_the_server_ends_the_flows_whole_tree(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path,
        flow_dir: Path) -> None:
    pool, ready = unique("pool"), tmp_path / "ready.txt"
    make_pool(prefect_api, pool)
    sleeper = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:sleeper")
    with Supervisor(worker_settings(prefect_server, tmp_path, pool)):
        run = prefect_api.create_flow_run(sleeper, parameters={"ready": str(ready)})["id"]
        wait_until(ready.exists, 90, interval=0.5, message="the flow and its grandchild up")
        assert len(leaks.processes_of_session()) >= 2
        # When it is cancelled on the server, as from the Prefect UI
        prefect_api.cancel(run)
        done = prefect_api.wait_for_state(run, ["CANCELLED"], 30, interval=0.5)
        # Then the whole tree is gone and the run is CANCELLED
        assert leaks.processes_of_session() == []
    assert states_of(prefect_api, run)[-2:] == ["CANCELLING", "CANCELLED"]
    assert "cancel" in (done["state"]["message"] or "").lower()


def test_queue_prefix_takes_a_queue_made_after_start_and_skips_a_paused_one(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path, flow_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    # Given a pool whose queue "etl-paused" is paused and "other" does not match the prefix
    pool = unique("pool")
    make_pool(prefect_api, pool)
    for queue in ("etl-paused", "other"):
        prefect_api.request("POST", f"/work_pools/{pool}/queues", {"name": queue})
    prefect_api.request("PATCH", f"/work_pools/{pool}/queues/etl-paused", {"is_paused": True})
    paused = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:happy",
                             queue="etl-paused")
    other = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:happy",
                            queue="other")
    settings = worker_settings(prefect_server, tmp_path, pool, work_queue_prefix=["etl-"],
                               queue_rematch_interval=2.0)
    with caplog.at_level("INFO", logger="supervisor.prefect"), Supervisor(settings):
        held = [prefect_api.create_flow_run(d, parameters={"out": str(tmp_path / "no")})["id"]
                for d in (paused, other)]
        # When a matching queue is made after the start, with a run in it
        prefect_api.request("POST", f"/work_pools/{pool}/queues", {"name": "etl-late"})
        late = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:happy",
                               queue="etl-late")
        run = prefect_api.create_flow_run(late, parameters={"out": str(tmp_path / "late")})
        # Then its run is taken at the next re-match, and the others are left alone
        done = prefect_api.wait_for_state(run["id"], ENDED, 60, interval=0.5)
        assert done["state_type"] == "COMPLETED"
        assert [prefect_api.read_flow_run(r)["state_type"] for r in held] == ["SCHEDULED"] * 2
    said = [r.getMessage() for r in caplog.records if "is paused" in r.getMessage()]
    assert said == [f"queue 'etl-paused' of {pool!r} is paused: its runs are not taken"]


def test_a_pool_of_another_type_is_refused_by_name(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path) -> None:
    pool = unique("docker")
    make_pool(prefect_api, pool, kind="docker")
    with pytest.raises(ControlPlaneError, match=f"work pool '{pool}' is of type 'docker'"):
        Supervisor(worker_settings(prefect_server, tmp_path, pool)).start()
    assert leaks.processes_of_session() == []


def test_a_missing_pool_is_made_and_a_flow_that_cannot_load_ends_crashed_with_the_reason(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path,
        flow_dir: Path) -> None:
    pool = unique("pool")
    with Supervisor(worker_settings(prefect_server, tmp_path, pool)):
        assert prefect_api.request("GET", f"/work_pools/{pool}")["type"] == "process"
        missing = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "nope.py:flow")
        unloadable = prefect_api.create_flow_run(missing)["id"]
        ended = prefect_api.wait_for_state(unloadable, ENDED, 60, interval=0.5)
        assert ended["state_type"] == "CRASHED"
        assert "'nope.py:flow'" in ended["state"]["message"]
        assert f"no file {flow_dir / 'nope.py'}" in ended["state"]["message"]


def test_a_flow_the_engine_cannot_find_in_its_file_ends_with_the_engines_reason(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path,
        flow_dir: Path) -> None:
    # 2.19's engine says FAILED itself; 3.4's leaves the run PENDING and exits 1: CRASHED,
    # with the last line the engine printed
    pool = unique("pool")
    with Supervisor(worker_settings(prefect_server, tmp_path, pool)):
        nosuch = pool_deployment(prefect_api, prefect_server, pool, flow_dir, "flows.py:nosuch")
        run = prefect_api.create_flow_run(nosuch)["id"]
        ended = prefect_api.wait_for_state(run, ENDED, 90, interval=0.5)
    assert ended["state_type"] in ("FAILED", "CRASHED"), ended["state_type"]
    assert "nosuch" in ended["state"]["message"], ended["state"]["message"]


def test_a_served_deployment_with_flow_runs_it_through_the_engine(
        prefect_server: PrefectServer, prefect_api: PrefectApi, tmp_path: Path,
        flow_dir: Path) -> None:
    name, out = unique("served"), tmp_path / "served.txt"
    data = {
        "supervisor": {"name": "edge", "poll_interval": 0.5, "cancel_poll_interval": 0.5},
        "ops": {"enabled": False},
        "control_plane": {"kind": "prefect", "api_url": prefect_server.api_url,
                          "journal": str(tmp_path / "j.db"), "flow_python": prefect_server.python},
        "deployments": [{"name": name, "flow": "flows.py:happy", "cwd": str(flow_dir),
                         "parameters": {"x": 4, "out": str(out)},
                         "env": {"PREFECT_HOME": str(tmp_path / "home")}}],
    }
    with Supervisor(parse_settings(data, tmp_path / "supervisor.toml", env={})):
        found = prefect_api.read_deployment_by_name(name, name)
        assert (found["entrypoint"], found["path"]) == ("flows.py:happy", str(flow_dir))
        run = prefect_api.create_flow_run(found["id"])["id"]
        done = prefect_api.wait_for_state(run, ENDED, 60, interval=0.5)
    assert done["state_type"] == "COMPLETED", done["state"]
    assert out.read_text() == "8 "
    assert states_of(prefect_api, run) == ["SCHEDULED", "PENDING", "RUNNING", "COMPLETED"]


@pytest.mark.timeout(420)
def test_two_supervisors_on_one_pool_run_each_of_40_flow_runs_exactly_once(
        prefect_server: PrefectServer, tmp_path: Path, flow_dir: Path) -> None:
    """The claim is what is tested, so each run's job `command` is a one-line recorder rather
    than the engine (40 engine starts cost ~1.5-3 s of CPU each); the supervisor still treats
    them as flow runs: nothing reports their end, so each ends CRASHED, once."""
    with shared_server(prefect_server) as (server, api):  # Postgres-backed on 3.x
        two_supervisors_run_each_pool_run_once(server, api, tmp_path, flow_dir)


def two_supervisors_run_each_pool_run_once(server: PrefectServer, api: PrefectApi,
                                           tmp_path: Path, flow_dir: Path) -> None:
    pool, ran = unique("pool"), tmp_path / "ran.txt"
    make_pool(api, pool)
    code = ("import os, sys; "
            "open(sys.argv[1], 'a').write(os.environ['PREFECT__FLOW_RUN_ID'] + '\\n')")
    command = shlex.join([sys.executable, "-c", code, str(ran)])
    key = "job_variables" if server.version.startswith("3.") else "infra_overrides"
    dep = str(api.create_deployment(
        unique("shared"), entrypoint="flows.py:happy", path=str(flow_dir), work_pool_name=pool,
        **{key: {"command": command}})["id"])
    ids = [api.create_flow_run(dep)["id"] for _ in range(40)]
    supervisors = [Supervisor(worker_settings(server, tmp_path, pool, name=f"edge-{i}",
                                              supervisor={"poll_interval": 1.0,
                                                          "cancel_poll_interval": 2.0}))
                   for i in range(2)]
    try:
        for sup in supervisors:
            sup.start()
        wait_until(lambda: len(api.read_flow_runs(dep, ["CRASHED"])) == 40, 180,
                   interval=0.5, message="40 runs ended")
    finally:
        for sup in supervisors:
            sup.stop()
    counts = Counter(ran.read_text().split())
    assert sorted(counts) == sorted(ids) and set(counts.values()) == {1}
    claimed = Counter(s["message"] for r in ids for s in api.read_states(r)
                      if s["type"] == "PENDING")
    assert sum(claimed.values()) == 40 and len(claimed) == 2, claimed  # both took a share
