"""After a crash: the trees of a SIGKILLed owner are found by cookie and ended."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from supervisor.process import sweep_leftovers
from tests.process.helpers import cookie_pids
from tests.programs import program
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("owner_subreaper", [False, True], ids=["owner-plain", "owner-subreaper"])
def test_the_trees_of_a_killed_owner_are_swept(owner_subreaper, subreaper):
    # Given an owner (a supervisor stand-in) running two trees of one run, daemon included
    run_id = f"test-{uuid.uuid4()}"
    argv = [sys.executable, program("owner.py"), run_id] + (
        ["subreaper"] if owner_subreaper else []
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    owner = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env)
    assert owner.stdout is not None
    assert owner.stdout.readline().strip() == "owner ready"
    # 2 mains, a child, a grandchild (sleep) and the daemon (one may be caught mid-exec at first)
    before = wait_until(lambda: len(found := cookie_pids(run_id)) == 5 and found, timeout=10)
    # When the owner is killed with SIGKILL and a new incarnation sweeps
    owner.send_signal(signal.SIGKILL)
    owner.wait(10)
    owner.stdout.close()
    counts = sweep_leftovers([run_id, "test-not-running"], grace=2)
    # Then every process of those trees was ended
    assert counts[run_id] == len(before) and counts["test-not-running"] == 0
    assert cookie_pids(run_id) == []


def test_a_sweep_with_nothing_to_do_returns_zeros():
    assert sweep_leftovers(["test-none-1", "test-none-2"], grace=1) == {
        "test-none-1": 0,
        "test-none-2": 0,
    }
