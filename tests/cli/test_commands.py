"""Every command through `python -m supervisor` on a real SQLite file: output and --json shapes."""

from __future__ import annotations

import json
import signal
import uuid
from datetime import UTC, datetime, timedelta

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import State, StateType
from supervisor.settings import load_settings
from tests.cli.conftest import Cli, StreamReader
from tests.waiting import wait_until

RUN_FIELDS = {
    "id",
    "deployment",
    "parameters",
    "state",
    "scheduled_time",
    "start_time",
    "end_time",
    "exit_code",
    "pid",
}


def plane_of(cli: Cli) -> LocalControlPlane:
    """The same control plane the CLI uses, opened in the test, with the config registered."""
    plane = LocalControlPlane(cli.database)
    plane.register_deployments(load_settings(cli.config, env={}).deployments)
    return plane


def to_running(plane: LocalControlPlane, run_id: uuid.UUID) -> None:
    assert plane.set_state(run_id, State.of(StateType.PENDING), supervisor="t").accepted
    assert plane.set_state(run_id, State.of(StateType.RUNNING), pid=1234).accepted


def test_deployments_lists_the_config_before_any_supervisor_ran(cli):
    listed = cli("deployments")
    assert listed.code == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["NAME", "SCHEDULE", "NEXT", "RUN", "PAUSED"]
    by_name = {row.split()[0]: row for row in rows}
    assert set(by_name) == {"ticker", "adhoc"}
    assert "cron 0 3 1 1 * (Europe/Paris)" in by_name["ticker"]
    assert "-01-01 03:00:00+01:00" in by_name["ticker"]  # next run in the schedule's own zone
    assert "on demand" in by_name["adhoc"] and by_name["adhoc"].endswith("no")

    as_json = cli("deployments", "--json")
    assert as_json.code == 0, as_json.stderr
    infos = {d["name"]: d for d in json.loads(as_json.stdout)}
    assert {"name", "schedule", "next_run_time", "paused"} <= set(infos["ticker"])
    next_run = datetime.fromisoformat(infos["ticker"]["next_run_time"])
    assert (next_run.month, next_run.day) == (1, 1) and next_run > datetime.now(UTC)
    assert infos["adhoc"]["schedule"] is None and infos["adhoc"]["next_run_time"] is None
    assert infos["adhoc"]["paused"] is False


def test_run_prints_the_id_and_runs_lists_the_run(cli):
    created = cli("run", "adhoc", "--param", "n=3", "--param", "flag=true", "-p", "who=ops")
    assert created.code == 0, created.stderr
    run_id = uuid.UUID(created.stdout.strip())

    listed = cli("runs", "--json")
    assert listed.code == 0, listed.stderr
    [run] = json.loads(listed.stdout)
    assert set(run) >= RUN_FIELDS
    assert run["id"] == str(run_id)
    assert run["deployment"] == "adhoc"
    assert run["parameters"] == {"who": "ops", "n": 3, "flag": True}
    assert set(run["state"]) == {"type", "name", "message", "timestamp"}
    assert (run["state"]["type"], run["state"]["name"]) == ("SCHEDULED", "Scheduled")
    assert run["start_time"] is None and run["exit_code"] is None and run["pid"] is None

    table = cli("runs")
    assert table.code == 0, table.stderr
    header, row = table.stdout.splitlines()
    assert header.split() == [
        "ID", "DEPLOYMENT", "STATE", "SCHEDULED", "STARTED", "ENDED", "EXIT", "ATTEMPT"]
    assert row.startswith(f"{run_id}  adhoc") and "Scheduled" in row


def test_run_at_a_local_time_prints_the_whole_run(cli):
    created = cli("run", "adhoc", "--at", "2030-01-31T09:30", "--json")
    assert created.code == 0, created.stderr
    run = json.loads(created.stdout)
    assert set(run) >= RUN_FIELDS
    assert run["parameters"] == {"who": "world", "n": 1}
    scheduled = datetime.fromisoformat(run["scheduled_time"])
    assert scheduled == datetime(2030, 1, 31, 9, 30).astimezone()


def test_runs_filters_by_deployment_and_state_newest_first_with_a_limit(cli):
    plane = plane_of(cli)
    try:
        times = [datetime(2030, 1, day, tzinfo=UTC) for day in (1, 2, 3)]
        adhoc = [plane.create_run("adhoc", {}, t).id for t in times]
        ticker = plane.create_run("ticker", {}, datetime(2030, 1, 4, tzinfo=UTC)).id
        to_running(plane, adhoc[0])
    finally:
        plane.close()

    newest = cli("runs", "--deployment", "adhoc", "--limit", "2", "--json")
    assert newest.code == 0, newest.stderr
    assert [r["id"] for r in json.loads(newest.stdout)] == [str(adhoc[2]), str(adhoc[1])]

    running = cli("runs", "--state", "running", "--json")
    assert running.code == 0, running.stderr
    [run] = json.loads(running.stdout)
    assert run["id"] == str(adhoc[0]) and run["state"]["type"] == "RUNNING"
    assert run["pid"] == 1234 and run["start_time"] is not None

    everything = cli("runs", "--json")
    assert next(r["id"] for r in json.loads(everything.stdout)) == str(ticker)


def test_cancel_ends_a_scheduled_run_at_once_and_marks_a_running_one_cancelling(cli):
    plane = plane_of(cli)
    try:
        waiting = plane.create_run("adhoc").id
        running = plane.create_run("adhoc").id
        to_running(plane, running)
    finally:
        plane.close()

    cancelled = cli("cancel", str(waiting))
    assert cancelled.code == 0, cancelled.stderr
    assert cancelled.stdout.startswith(f"{waiting}  Cancelled")

    cancelling = cli("cancel", str(running), "--json")
    assert cancelling.code == 0, cancelling.stderr
    run = json.loads(cancelling.stdout)
    assert set(run) >= RUN_FIELDS
    assert run["id"] == str(running) and run["state"]["type"] == "CANCELLING"


def test_logs_print_the_captured_output_and_nothing_before_there_is_any(cli):
    plane = plane_of(cli)
    try:
        run_id = plane.create_run("adhoc").id
    finally:
        plane.close()

    nothing = cli("logs", str(run_id))
    assert (nothing.code, nothing.stdout, nothing.stderr) == (0, "", "")

    cli.log_dir.mkdir(parents=True, exist_ok=True)
    (cli.log_dir / f"{run_id}.log").write_text("line one\nline two: é\n")
    printed = cli("logs", str(run_id))
    assert printed.code == 0, printed.stderr
    assert printed.stdout == "line one\nline two: é\n"


def test_logs_follow_prints_new_output_until_the_run_ends(cli):
    plane = plane_of(cli)
    try:
        run_id = plane.create_run("adhoc").id
        to_running(plane, run_id)
        cli.log_dir.mkdir(parents=True, exist_ok=True)
        log = cli.log_dir / f"{run_id}.log"
        with cli.popen("logs", str(run_id), "--follow") as follower:
            try:
                out = StreamReader(follower.stdout)
                with open(log, "a") as handle:
                    handle.write("first\n")
                wait_until(lambda: "first\n" in out.text(), timeout=20, message="first line")
                with open(log, "a") as handle:
                    handle.write("second\n")
                ended = plane.set_state(run_id, State.of(StateType.COMPLETED), exit_code=0)
                assert ended.accepted
                assert follower.wait(timeout=20) == 0
            finally:
                if follower.poll() is None:
                    follower.kill()
                    follower.wait()
            assert out.join() == "first\nsecond\n"
            assert follower.stderr is not None and follower.stderr.read() == ""
    finally:
        plane.close()


def test_the_config_comes_from_the_environment_else_the_working_directory(cli):
    other = cli.root / "conf" / "other.toml"
    other.parent.mkdir()
    other.write_text(cli.config.read_text().replace("cli-test", "other"))

    from_env = cli("deployments", "--json", config=False, SUPERVISOR_CONFIG="conf/other.toml")
    assert from_env.code == 0, from_env.stderr
    assert (other.parent / ".supervisor" / "state.db").exists()
    assert not cli.database.exists()

    from_cwd = cli("deployments", "--json", config=False)
    assert from_cwd.code == 0, from_cwd.stderr
    assert cli.database.exists()


def test_ctrl_c_ends_a_follow_quietly_with_130(cli):
    plane = plane_of(cli)
    try:
        run_id = plane.create_run("adhoc").id
    finally:
        plane.close()
    cli.log_dir.mkdir(parents=True, exist_ok=True)
    (cli.log_dir / f"{run_id}.log").write_text("waiting\n")
    with cli.popen("logs", str(run_id), "--follow") as follower:
        try:
            out = StreamReader(follower.stdout)
            err = StreamReader(follower.stderr)  # type: ignore[arg-type]
            wait_until(lambda: out.text() == "waiting\n", timeout=20, message="the log")
            # the log is copied before the waiting line is said: interrupt after both
            wait_until(lambda: "; waiting" in err.text(), timeout=20, message="the waiting line")
            follower.send_signal(signal.SIGINT)
            assert follower.wait(timeout=20) == 130
        finally:
            if follower.poll() is None:
                follower.kill()
                follower.wait()
        out.join()
        # the run was never started: the one line saying so, nothing about the interrupt
        assert err.join().endswith("; waiting\n")


def _says_waiting_then_exits_130_on_ctrl_c(cli: Cli, *argv: str, run_id: uuid.UUID) -> str:
    with cli.popen(*argv) as waiter:
        try:
            err = StreamReader(waiter.stderr)  # type: ignore[arg-type]
            wait_until(lambda: "; waiting" in err.text(), timeout=30, message="the waiting line")
            waiter.send_signal(signal.SIGINT)
            assert waiter.wait(timeout=30) == 130
        finally:
            if waiter.poll() is None:
                waiter.kill()
                waiter.wait()
        text = err.join()
    lines = [ln for ln in text.splitlines() if "; waiting" in ln]
    assert len(lines) == 1, text
    assert lines[0].startswith(f"run {run_id} is scheduled for 2100-01-01 ")
    assert "Traceback" not in text
    return text


def test_execute_on_a_future_run_says_it_waits_and_ctrl_c_exits_130(cli):
    plane = plane_of(cli)
    try:
        run_id = plane.create_run("adhoc", {}, datetime(2100, 1, 1, 12, tzinfo=UTC)).id
        _says_waiting_then_exits_130_on_ctrl_c(cli, "execute", str(run_id), run_id=run_id)
    finally:
        plane.close()


def test_logs_follow_on_a_run_not_started_says_it_waits(cli):
    plane = plane_of(cli)
    try:
        run_id = plane.create_run("adhoc", {}, datetime(2100, 1, 1, 12, tzinfo=UTC)).id
        _says_waiting_then_exits_130_on_ctrl_c(cli, "logs", "--follow", str(run_id), run_id=run_id)
    finally:
        plane.close()


def test_runs_of_an_unknown_deployment_exit_1_naming_it(cli):
    result = cli("runs", "--deployment", "nosuch")
    assert result.code == 1
    assert result.error_line.startswith("runs: no deployment named 'nosuch' in ")
    assert cli("runs", "--deployment", "adhoc").code == 0


def test_run_at_a_time_far_in_the_past_is_refused(cli):
    result = cli("run", "adhoc", "--at", "1970-01-01T00:00Z")
    assert result.code == 2
    assert result.error_line.startswith(
        "run: --at '1970-01-01T00:00Z' is more than a day in the past"
    )
    a_moment_ago = cli("run", "adhoc", "--at", datetime.now(UTC).isoformat())
    assert a_moment_ago.code == 0, a_moment_ago.stderr


def test_runs_are_listed_by_scheduled_time_latest_first_as_help_says(cli):
    assert "latest scheduled time first" in cli("runs", "--help").stdout
    plane = plane_of(cli)
    try:
        now = datetime.now(UTC)
        ran = plane.create_run("adhoc", {}, now - timedelta(hours=1)).id
        to_running(plane, ran)
        later = plane.create_run("adhoc", {}, now + timedelta(days=1)).id
        newer = plane.create_run("adhoc", {}, now - timedelta(minutes=1)).id
    finally:
        plane.close()
    listed = json.loads(cli("runs", "--json").stdout)
    assert [r["id"] for r in listed] == [str(later), str(newer), str(ran)]
