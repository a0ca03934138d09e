"""Reaping: ours only, all of ours. No exit status of a child started elsewhere is ever stolen."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import warnings

from tests.leaks import zombie_children
from tests.process.helpers import Started, pids_in, python
from tests.waiting import wait_until


def state(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return None


def _exit_five() -> None:
    os._exit(5)


def test_children_started_elsewhere_keep_their_exit_status(as_subreaper):
    # Given unrelated children that exited and are not waited for yet, one in its own session
    plain = subprocess.Popen([sys.executable, "-c", "raise SystemExit(7)"])
    own_session = subprocess.Popen(["sh", "-c", "exit 9"], start_new_session=True)
    worker = multiprocessing.get_context("fork").Process(target=_exit_five)
    with warnings.catch_warnings():  # 3.12+ warns about fork in a threaded process: fine here
        warnings.simplefilter("ignore", DeprecationWarning)
        worker.start()
    for pid in (plain.pid, own_session.pid, worker.pid):
        wait_until(lambda pid=pid: state(pid) == "Z", timeout=10, message=f"{pid} exited")
    # When runs with adopted daemons end and their zombies are reaped
    started = python("daemon.py")
    started.wait_line("ready")
    started.run.terminate(grace=5)
    assert started.result().leftovers == 0
    exited = python("daemon.py", "exit")
    assert exited.result().leftovers == 0
    # Then the other children still carry their own status
    assert plain.wait(10) == 7
    assert own_session.wait(10) == 9
    worker.join(10)
    assert worker.exitcode == 5


def test_orphans_of_a_run_that_die_unseen_are_reaped(as_subreaper):
    # Given a run whose background grandchild is re-parented to us and dies there
    started = Started(("sh", "-c", '(sh -c "exit 0" &); echo ready; exec sleep 3600'))
    started.wait_line("ready")
    wait_until(zombie_children, timeout=10, message="an orphan of the run became our zombie")
    # When the run is cancelled
    started.run.terminate(grace=5)
    assert started.result().leftovers == 0
    # Then none of its zombies is left with us
    assert zombie_children() == []


def test_an_adopted_daemon_that_dies_during_the_run_is_reaped(as_subreaper):
    started = python("daemon.py")
    started.wait_line("ready")
    [daemon] = pids_in(started.lines, "daemon ")
    wait_until(
        lambda: daemon in [info.pid for info in started.run.tree()], timeout=10, message="adopted"
    )
    os.kill(daemon, signal.SIGKILL)  # it dies while the run goes on
    wait_until(lambda: state(daemon) is None, timeout=10, message="the daemon reaped")
    assert not started.run.done
    started.run.terminate(grace=5)
    assert started.result().leftovers == 0
