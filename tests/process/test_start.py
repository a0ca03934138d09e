"""Starting real programs: exit explanations, start failures, cwd/env/cookie, output and its log."""

from __future__ import annotations

import os
import signal
import sys

import pytest

from supervisor.models import StateType
from supervisor.process import COOKIE_VAR, ExitReason, ProcessSpec, start_process
from supervisor.process.output import MAX_LINE
from tests.leaks import SESSION_VAR
from tests.process.helpers import Started, python, text


@pytest.mark.parametrize(
    ("code", "state", "message"),
    [
        (0, StateType.COMPLETED, "exited with code 0"),
        (3, StateType.CRASHED, "exited with code 3"),
        (127, StateType.CRASHED, "exited with code 127: command not found"),
        (137, StateType.CRASHED, "exited with code 137: killed by SIGKILL"),
        (247, StateType.CRASHED, "exited with code 247: commonly SIGKILL (-9)"),
    ],
)
def test_exit_codes_are_explained(code, state, message):
    started = python("exit_code.py", str(code))
    result = started.result()
    assert (result.reason, result.returncode, result.state_type) == (ExitReason.EXITED, code, state)
    assert result.message.startswith(message)
    assert started.lines == [f"exiting with {code}"]
    assert not result.escalated and result.leftovers == 0 and started.exits == [result]


@pytest.mark.parametrize(
    ("signum", "message"),
    [
        (signal.SIGKILL, "killed by SIGKILL (out of memory or a manual kill)"),
        (signal.SIGTERM, "terminated by SIGTERM"),
        (signal.SIGUSR1, "killed by SIGUSR1"),
    ],
)
def test_death_by_signal_is_explained(signum, message):
    result = python("kill_self.py", str(int(signum))).result()
    assert result.returncode == -signum
    assert result.signal_name == signal.Signals(signum).name
    assert result.state_type is StateType.CRASHED
    assert result.message == message


def test_a_command_that_is_not_found_is_an_immediate_result():
    started = Started(("no-such-command-here", "x"))
    assert started.run.done and started.run.pid is None
    assert len(started.exits) == 1  # on_exit was called before start_process returned
    result = started.exits[0]
    assert result.reason is ExitReason.START_FAILED and result.returncode is None
    assert result.state_type is StateType.CRASHED
    assert result.message.startswith("could not start: [Errno 2] No such file or directory")
    assert started.run.wait(0) is result
    started.run.terminate(1)  # harmless
    assert started.run.tree() == []


def test_a_file_that_is_not_executable_cannot_start(tmp_path):
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    result = Started((str(script),)).result()
    assert result.reason is ExitReason.START_FAILED
    assert "Permission denied" in result.message


def test_a_missing_working_directory_cannot_start(tmp_path):
    result = Started(("true",), cwd=tmp_path / "gone").result()
    assert result.reason is ExitReason.START_FAILED
    assert (
        result.message
        == f"could not start: working directory {tmp_path / 'gone'}: No such file or directory"
    )


def test_an_empty_command_cannot_start():
    assert Started(()).result().message == "could not start: empty command"


def test_cwd_env_and_the_cookie_reach_the_child(tmp_path):
    env = {"PATH": os.environ["PATH"], "GREETING": "hi", SESSION_VAR: os.environ[SESSION_VAR]}
    code = "import os; print(os.getcwd()); print(os.environ['GREETING']); print(os.environ['%s'])"
    started = Started((sys.executable, "-c", code % COOKIE_VAR), cwd=tmp_path, env=env)
    assert started.result().returncode == 0
    assert started.lines == [str(tmp_path), "hi", started.run_id]


def test_output_goes_to_the_callback_and_is_appended_to_the_log(tmp_path):
    log = tmp_path / "run.log"
    log.write_text("earlier\n")
    started = python("bad_utf8.py", log_path=log)
    assert started.result().returncode == 0
    expected = ["before \ufffd\ufffd invalid \ufffd( end", "stderr \ufffd too"]
    assert started.lines == expected
    assert text(log) == "earlier\n" + "".join(line + "\n" for line in expected)


def test_an_unwritable_log_path_never_stops_the_run_and_is_said(tmp_path):
    path = tmp_path / "no" / "run.log"
    result = Started(("true",), log_path=path).result()
    assert result.reason is ExitReason.EXITED and result.returncode == 0
    assert result.log_truncated == (
        f"output truncated at 0 bytes: No such file or directory ({path})"
    )
    assert result.message.endswith(f"; {result.log_truncated}")


@pytest.mark.slow
def test_a_flood_is_taken_whole_with_bounded_lines(tmp_path):
    log = tmp_path / "run.log"
    started = python("flood.py", "16", log_path=log)
    assert started.result().returncode == 0
    assert started.lines[-1] == "end" and len(started.lines) > 160_000
    assert log.stat().st_size >= 16 * 1024 * 1024


def test_an_endless_line_is_split_at_the_bound():
    started = python("flood.py", "2", "0")
    assert started.result().returncode == 0
    assert max(len(line) for line in started.lines) == MAX_LINE
    assert sum(len(line) for line in started.lines[:-2]) >= 2 * 1024 * 1024


def test_a_daemon_left_after_a_normal_exit_is_ended_and_does_not_hold_the_output(subreaper):
    started = python("daemon.py", "exit")
    result = started.result()
    assert (result.reason, result.returncode) == (ExitReason.EXITED, 0)
    assert result.state_type is StateType.COMPLETED
    assert result.message.startswith("exited with code 0; 1 leftover process(es) ended")
    assert started.lines[-1] == "ready" and started.lines[0].startswith("daemon ")
    assert result.leftovers == 0 and started.alive() == []


def test_start_process_takes_a_spec_and_callbacks_are_optional():
    run = start_process(ProcessSpec(run_id="test-optional", argv=("true",)))
    result = run.wait(30)
    assert result is not None and result.returncode == 0 and run.done


ESCAPE = """
import os
read_end, write_end = os.pipe()  # not inherited through exec: EOF says the escapee is in place
pid = os.fork()
if pid == 0:
    os.setsid()
    os.execve("/bin/sleep", ["sleep", "3600"], {})
os.close(write_end)
os.read(read_end, 1)
print(f"escaped {pid}", flush=True)
"""


def test_a_holder_of_the_output_that_escaped_everything_does_not_hang_the_result():
    # Given a run whose main exits while a process that dropped the cookie (env -i) and left the
    # session (setsid) keeps the output pipe open: invisible to the walk, the group and the scan
    started = Started((sys.executable, "-c", ESCAPE))
    try:
        # Then the result still arrives, once a short drain has passed
        result = started.result()
        assert (result.reason, result.returncode) == (ExitReason.EXITED, 0)
        assert started.lines == [started.lines[0]] and started.lines[0].startswith("escaped ")
    finally:
        [pid] = [int(line.split()[1]) for line in started.lines if line.startswith("escaped ")]
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            assert handle.read() == b"sleep\x003600\x00"
        os.kill(pid, signal.SIGKILL)


def test_a_silent_run_creates_no_log_file_and_a_talking_one_does(tmp_path):
    # The log is opened at the first output (a create costs ~1 ms of kernel time per run).
    silent, talking = tmp_path / "silent.log", tmp_path / "talking.log"
    assert Started(("true",), log_path=silent).result().returncode == 0
    assert Started(("echo", "hi"), log_path=talking).result().returncode == 0
    assert not silent.exists()
    assert talking.read_text() == "hi\n"
