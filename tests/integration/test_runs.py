"""The actor system end to end: real SQLite control plane, real processes, real time."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from tests import leaks
from tests.integration.system import python, settings_for, started, states, wait_terminal
from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def test_scheduled_runs_start_in_order_and_never_early(tmp_path: Path):
    settings = settings_for(tmp_path, [{"name": "job", "command": python("pass")}], limit=1)
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    now = datetime.now(UTC)
    runs = [plane.create_run("job", {}, now + timedelta(seconds=0.3 + 0.15 * i)) for i in range(4)]
    sup = started(settings)
    try:
        finished = [wait_terminal(plane, run) for run in runs]
    finally:
        sup.stop()
    assert [r.state.type for r in finished] == [StateType.COMPLETED] * 4
    for run in finished:
        assert run.start_time >= run.scheduled_time, "a run started before its time"
    starts = [r.start_time for r in finished]
    assert starts == sorted(starts)


def test_the_limit_holds_on_live_processes_and_every_slot_frees(tmp_path: Path):
    settings = settings_for(
        tmp_path, [{"name": "nap", "command": python("import time; time.sleep(0.3)")}], limit=3
    )
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    runs = [plane.create_run("nap") for _ in range(9)]
    most = 0
    stop = threading.Event()

    def watch() -> None:
        nonlocal most
        while not stop.is_set():
            most = max(most, len(leaks.processes_of_session()))
            stop.wait(0.01)

    watcher = threading.Thread(target=watch)
    watcher.start()
    sup = started(settings)
    try:
        for run in runs:
            assert wait_terminal(plane, run).state.type is StateType.COMPLETED
    finally:
        stop.set()
        watcher.join()
        sup.stop()
    assert 1 <= most <= 3
    assert sup.board.get("supervisor") is not None


def test_mixed_outcomes_are_explained(tmp_path: Path):
    deployments = [
        {"name": "ok", "command": python("print('hi')")},
        {"name": "bad", "command": python("import sys; sys.exit(3)")},
        {"name": "missing", "command": ["/nonexistent/program"]},
        {
            "name": "slow",
            "command": python("import signal; signal.pause()"),
            "timeout": 0.5,
            "kill_grace": 1,
        },
        {"name": "doomed", "command": python("import signal; signal.pause()")},
    ]
    settings = settings_for(tmp_path, deployments, limit=2)
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    runs = {d["name"]: plane.create_run(d["name"]) for d in deployments}
    sup = started(settings)
    try:
        doomed = runs["doomed"].id
        wait_until(lambda: plane.read_run(doomed).state.type is StateType.RUNNING, 20)
        sup.cancel_run(doomed, by="the test")
        done = {name: wait_terminal(plane, run) for name, run in runs.items()}
        # Then every slot is free again, whatever the outcome
        wait_until(lambda: sup.board.get("supervisor")["owns"]["in_flight"] == 0, 10)
        free = sup.metrics.render().decode()
        assert "supervisor_slots_free 2.0" in free
    finally:
        sup.stop()
    assert done["doomed"].state.type is StateType.CANCELLED
    assert done["ok"].state.type is StateType.COMPLETED and done["ok"].exit_code == 0
    assert done["bad"].state.type is StateType.CRASHED and done["bad"].exit_code == 3
    assert "exited with code 3" in done["bad"].state.message
    assert done["missing"].state.type is StateType.CRASHED
    assert "could not start" in done["missing"].state.message
    assert done["slow"].state.type is StateType.FAILED and done["slow"].state.name == "TimedOut"
    log = (settings.supervisor.log_dir / f"{runs['ok'].id}.log").read_text()
    assert "hi" in log
    assert states(plane, done["ok"]) == [
        StateType.SCHEDULED,
        StateType.PENDING,
        StateType.RUNNING,
        StateType.COMPLETED,
    ]


def test_two_supervisors_on_one_database_never_run_a_run_twice(tmp_path: Path):
    marks = tmp_path / "marks"
    marks.mkdir()
    code = (
        "import os; p = os.path.join(os.environ['MARKS'], os.environ['SUPERVISOR_RUN_ID']);"
        "open(p, 'a').write(os.environ['WHO'] + '\\n')"
    )
    deployment = {"name": "mark", "command": python(code), "env": {"MARKS": str(marks)}}
    first = settings_for(
        tmp_path, [{**deployment, "env": {**deployment["env"], "WHO": "a"}}], name="a", limit=4
    )
    second = settings_for(
        tmp_path, [{**deployment, "env": {**deployment["env"], "WHO": "b"}}], name="b", limit=4
    )
    plane = LocalControlPlane(first.supervisor.database)
    plane.register_deployments(first.deployments)
    runs = [plane.create_run("mark") for _ in range(30)]
    a, b = started(first), started(second)
    try:
        for run in runs:
            assert wait_terminal(plane, run).state.type is StateType.COMPLETED
    finally:
        a.stop()
        b.stop()
    for run in runs:
        assert len((marks / str(run.id)).read_text().splitlines()) == 1
    claimers = {plane.read_run(run.id).supervisor for run in runs}
    assert claimers <= {"a", "b"}


def test_cancel_ends_the_whole_tree_and_marks_cancelled(tmp_path: Path):
    code = (
        "import signal, subprocess, sys;"
        "subprocess.Popen([sys.executable, '-c', 'import signal; signal.pause()']);"
        "print('started', flush=True); signal.pause()"
    )
    settings = settings_for(tmp_path, [{"name": "tree", "command": python(code)}])
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    run = plane.create_run("tree")
    sup = started(settings)
    try:
        wait_until(lambda: len(leaks.processes_of_session()) == 2, 20, message="tree of two")
        wait_until(lambda: plane.read_run(run.id).state.type is StateType.RUNNING)
        sup.cancel_run(run.id, by="the test")
        final = wait_terminal(plane, run)
        assert final.state.type is StateType.CANCELLED
        assert "cancelled by the test" in final.state.message
        assert leaks.processes_of_session() == []
    finally:
        sup.stop()


def test_an_entrypoint_gets_its_parameters_as_keyword_arguments(tmp_path: Path):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "greet.py").write_text(
        "import os\n"
        "def main(who, times=1):\n"
        "    for _ in range(times):\n"
        "        print(f'hello {who} from', os.environ['SUPERVISOR_DEPLOYMENT'], flush=True)\n"
    )
    deployment = {
        "name": "greet",
        "entrypoint": "flows/greet.py:main",
        "cwd": str(tmp_path),
        "parameters": {"who": "nobody", "times": 2},
    }
    settings = settings_for(tmp_path, [deployment])
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    run = plane.create_run("greet", {"who": "world"})
    sup = started(settings)
    try:
        final = wait_terminal(plane, run)
    finally:
        sup.stop()
    assert final.state.type is StateType.COMPLETED, final.state.message
    log = (settings.supervisor.log_dir / f"{run.id}.log").read_text()
    assert log.count("hello world from greet") == 2


def test_an_entrypoint_that_raises_is_failed_and_one_killed_by_a_signal_is_crashed(
    tmp_path: Path,
):
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "jobs.py").write_text(
        "import os, signal\n"
        "def boom():\n"
        "    raise ValueError('bad input row 7')\n"
        "def die():\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
        "def leave():\n"
        "    raise SystemExit(3)\n"
    )
    deployments = [
        {"name": name, "entrypoint": f"flows/jobs.py:{name}", "cwd": str(tmp_path)}
        for name in ("boom", "die", "leave")
    ]
    settings = settings_for(tmp_path, deployments)
    plane = LocalControlPlane(settings.supervisor.database)
    plane.register_deployments(settings.deployments)
    runs = {name: plane.create_run(name) for name in ("boom", "die", "leave")}
    sup = started(settings)
    try:
        done = {name: wait_terminal(plane, run) for name, run in runs.items()}
    finally:
        sup.stop()
    assert done["boom"].state.type is StateType.FAILED, done["boom"].state
    assert "ValueError: bad input row 7" in done["boom"].state.message
    assert done["die"].state.type is StateType.CRASHED
    assert "SIGKILL" in done["die"].state.message
    assert done["leave"].state.type is StateType.CRASHED  # an exit code, not an exception
    assert done["leave"].exit_code == 3
