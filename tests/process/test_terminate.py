"""Ending real trees: nothing with the run's cookie survives; the result says how it ended."""

from __future__ import annotations

import json
import os

import pytest

from supervisor.models import StateType
from supervisor.process import PARAMETERS_VAR, ExitReason, entrypoint_argv
from tests.process.helpers import Started, pids_in, python
from tests.programs import HERE
from tests.waiting import wait_until

# Each tree: what to start, the output line that says it is up (how many times), its processes.
TREES = {
    "grandchild": (("grandchild.py",), "grandchild ", 1, 3),
    "daemon": (("daemon.py",), "ready", 1, 2),
    "ignores-term": (("ignores_term.py", "2"), "child ", 2, 3),
    "flood": (("flood.py", "100000"), "xxxx", 1, 1),
    "entrypoint": (("flows.py:with_workers",), "ready", 1, 3),  # multiprocessing children
}


def start_tree(name: str) -> Started:
    args, ready, count, _ = TREES[name]
    if name == "entrypoint":
        env = {**os.environ, PARAMETERS_VAR: json.dumps({"workers": 2})}
        started = Started(entrypoint_argv(args[0]), env=env, cwd=HERE)
    else:
        started = python(*args)
    started.wait_line(ready, count)
    if name == "ignores-term":
        started.wait_line("ready")
    return started


@pytest.mark.parametrize("name", sorted(TREES))
def test_cancel_leaves_no_process_of_the_tree(name, subreaper):
    # Given a running tree
    started = start_tree(name)
    size = TREES[name][3]
    wait_until(lambda: len(started.alive()) == size, timeout=10, message=f"{size} processes")
    # When it is cancelled
    started.run.terminate(grace=0.3)
    result = started.result()
    # Then nothing carrying its cookie is alive, and the result says so
    assert started.alive() == []
    assert result.reason is ExitReason.CANCELLED
    assert (result.state_type, result.state_name) == (StateType.CANCELLED, "Cancelled")
    assert result.leftovers == 0
    assert started.exits == [result]


def test_a_cooperative_tree_ends_within_the_grace():
    started = start_tree("grandchild")
    started.run.terminate(grace=30)
    result = started.result()
    assert (result.returncode, result.signal_name, result.escalated) == (-15, "SIGTERM", False)
    assert result.message == "cancelled: SIGTERM, ended within the 30s grace"


def test_a_tree_ignoring_sigterm_is_killed_after_the_grace():
    started = start_tree("ignores-term")
    started.run.terminate(grace=0.2)
    result = started.result()
    assert result.escalated and (result.returncode, result.signal_name) == (-9, "SIGKILL")
    assert result.message == "cancelled: SIGTERM ignored, SIGKILL after the 0.2s grace"
    assert started.alive() == []


def test_a_second_terminate_can_shorten_the_grace_but_not_change_the_reason():
    started = start_tree("ignores-term")
    started.run.terminate(grace=600, reason=ExitReason.SHUTDOWN)
    assert not started.run.done  # returned at once; the grace is still running
    started.run.terminate(grace=0, reason=ExitReason.CANCELLED)
    result = started.result()
    assert result.reason is ExitReason.SHUTDOWN and result.escalated
    assert result.state_type is StateType.CANCELLED
    assert started.exits == [result]


def test_a_timeout_is_a_failure_named_timed_out():
    started = start_tree("grandchild")
    started.run.terminate(grace=5, reason=ExitReason.TIMED_OUT)
    result = started.result()
    assert (result.state_type, result.state_name) == (StateType.FAILED, "TimedOut")
    assert result.message.startswith("timed out after ")


def test_terminate_after_the_end_changes_nothing():
    started = python("exit_code.py", "0")
    result = started.result()
    started.run.terminate(grace=1)
    assert started.run.result is result and started.exits == [result]


def test_grandchildren_of_a_cancelled_run_are_gone_by_pid():
    started = start_tree("grandchild")
    [grandchild] = pids_in(started.lines, "grandchild ")
    started.run.terminate(grace=5)
    started.result()
    wait_until(lambda: not _alive(grandchild), timeout=5, message="grandchild gone")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
