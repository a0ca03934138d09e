"""`start` in the foreground: registers the deployments, exits 0 on SIGTERM or SIGINT."""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Iterator

import pytest

from supervisor.controlplane.local import LocalControlPlane
from tests.cli.conftest import Cli, StreamReader
from tests.waiting import wait_until


@contextlib.contextmanager
def started(cli: Cli) -> Iterator[tuple[subprocess.Popen[str], StreamReader]]:
    """`start`, once it said it started; killed and reaped on the way out if still alive."""
    with cli.popen("start") as proc:
        err = StreamReader(proc.stderr)  # type: ignore[arg-type]
        try:
            wait_until(lambda: " started: " in err.text() or proc.poll() is not None, timeout=30)
            assert proc.poll() is None, err.join()
            yield proc, err
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
            err.join()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_start_registers_the_deployments_and_exits_0_on_a_signal(cli, signum):
    with started(cli) as (proc, err):
        expected = "supervisor 'cli-test' started: 2 deployment(s), database .supervisor/"
        assert expected in err.text()
        plane = LocalControlPlane(cli.database)
        try:
            assert {d.name for d in plane.read_deployments()} == {"ticker", "adhoc"}
        finally:
            plane.close()
        proc.send_signal(signum)
        assert proc.wait(timeout=30) == 0
    assert "Traceback" not in err.text()


def test_sigusr1_logs_every_threads_traceback_and_keeps_running(cli):
    with started(cli) as (proc, err):
        proc.send_signal(signal.SIGUSR1)
        wait_until(lambda: "Current state of MainThread" in err.text(), timeout=30)
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_start_with_a_bad_config_exits_2(cli):
    cli.config.write_text(cli.config.read_text().replace('name = "cli-test"', 'name = "a/b"'))
    result = cli("start")
    assert result.code == 2
    assert "supervisor.name" in result.error_line and "a/b" in result.error_line


def test_a_second_start_of_the_same_name_exits_1_naming_the_database_and_name(cli):
    with started(cli) as (proc, _err):
        second = cli("start")
        assert second.code == 1
        line = second.error_line
        assert f"supervisor 'cli-test' is already running on database {cli.database}" in line
        assert f"pid {proc.pid}" in line
        assert proc.poll() is None
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def _chatty_run_under_start_once(cli: Cli, *flags: str) -> str:
    """Stderr of `start --once` that runs one run printing a marker line."""
    marker = "chatty-run-output-line"
    cli.config.write_text(cli.config.read_text().replace("print('hi')", f"print('{marker}')"))
    run_id = cli("run", "adhoc").stdout.strip()
    done = cli("start", "--once", *flags)
    assert done.code == 0, done.stderr
    assert cli("logs", run_id).stdout == f"{marker}\n"  # the output is in the run's log
    return done.stderr


def test_run_output_stays_out_of_the_daemon_log_unless_echo_runs(cli):
    quiet = _chatty_run_under_start_once(cli)
    assert "chatty-run-output-line" not in quiet
    assert "Completed" in quiet  # lifecycle lines are still logged
    echoed = _chatty_run_under_start_once(cli, "--echo-runs")
    assert "chatty-run-output-line" in echoed
