"""One scheduler and one clock for the whole system: the actors' and the process layer's.

A supervisor builds one timer thread, and a manual clock given to it drives the kill grace of
real process trees as it drives the actors.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from supervisor.clock import Clock, FakeClock
from supervisor.controlplane.memory import MemoryControlPlane
from supervisor.models import StateType
from supervisor.process import runtime
from supervisor.system import Supervisor
from supervisor.timers import ManualScheduler, ThreadScheduler
from tests.actors.harness import make_settings
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[2]

# Parent and child note SIGTERM in a file and carry on: only SIGKILL ends them.
STUBBORN = """
import os, signal, sys
def note(what):
    with open(sys.argv[1], "a") as f:
        f.write(f"{what} {os.getpid()}\\n")
signal.signal(signal.SIGTERM, lambda *_: note("term"))
os.fork()
note("ready")
while True:
    signal.pause()
"""

# In a fresh interpreter: a supervisor whose run ignores SIGTERM until SIGKILL after its grace
# (the process layer's timers used), then the names of the timer threads alive.
COUNT = """
import sys, threading
from pathlib import Path
from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from tests.integration.system import python, settings_for, started, wait_terminal
from tests.waiting import wait_until
tmp = Path(sys.argv[1])
ignore = ("import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); "
          "signal.pause()")
job = {"name": "stubborn", "command": python(ignore), "kill_grace": 0.2}
settings = settings_for(tmp, [job])
plane = LocalControlPlane(settings.supervisor.database)
plane.register_deployments(settings.deployments)
run = plane.create_run("stubborn")
sup = started(settings)
try:
    log = settings.supervisor.log_dir / f"{run.id}.log"
    wait_until(lambda: log.exists() and "up" in log.read_text(), 30)
    sup.cancel_run(run.id)
    final = wait_terminal(plane, run, 30)
    assert "SIGKILL" in (final.state.message or ""), final.state.message
    print(sorted(t.name for t in threading.enumerate() if "timer" in t.name))
finally:
    sup.stop()
"""


def test_a_supervisor_runs_every_timer_on_one_thread(tmp_path):
    # Given a fresh interpreter running a supervisor whose run was escalated after its grace
    done = subprocess.run(
        [sys.executable, "-c", COUNT, str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Then one timer thread served the actors and the process layer alike
    assert done.stdout.splitlines()[-1] == "['supervisor-timers']"


def _gone(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            return handle.read().rsplit(b")", 1)[-1].split()[0] == b"Z"
    except FileNotFoundError:
        return True


def _flush(submit: Callable[[threading.Event], None]) -> None:
    done = threading.Event()
    submit(done)
    assert done.wait(10)


def _settle_process_layer() -> None:
    """Every exit the watcher has seen is handed to the ender, and the ender has run it."""
    rt = runtime.get()
    for _ in range(2):  # the second turn starts after every callback of the first
        _flush(lambda done: rt.watcher.call_soon(done.set))
    _flush(lambda done: rt.worker.submit(lambda _snap: done.set()))


def test_a_manual_clock_given_to_the_system_drives_the_kill_grace_of_real_trees(tmp_path):
    # Given a supervisor on a manual clock, running real processes (no fake launcher)
    marker = tmp_path / "marker"
    clock = FakeClock()
    timers = ManualScheduler(clock)
    plane = MemoryControlPlane(clock)
    job = {"name": "stubborn", "command": [sys.executable, "-c", STUBBORN, str(marker)],
           "kill_grace": 300}  # on the real clock, the test would time out
    sup = Supervisor(make_settings(tmp_path, [job]), control_plane=plane, scheduler=timers,
                     environment=dict(os.environ))
    sup.start()
    try:
        run = plane.create_run("stubborn", {}, clock.now())
        sup.nudge()
        wait_until(lambda: plane.read_run(run.id).state.type is StateType.RUNNING, 30)

        def lines(what: str) -> list[int]:
            text = marker.read_text() if marker.exists() else ""
            return [int(x.split()[1]) for x in text.splitlines() if x.startswith(what)]

        pids = wait_until(lambda: len(lines("ready")) == 2 and lines("ready"), 30)
        # When it is cancelled, both processes get SIGTERM and ignore it
        sup.cancel_run(run.id, by="test")
        wait_until(lambda: set(lines("term")) == set(pids), 30, message="SIGTERM noted by both")
        _settle_process_layer()
        # Then 299.9 s later on that clock the tree is whole, still cancelling
        timers.advance(299.9)
        _settle_process_layer()
        assert not any(_gone(pid) for pid in pids)
        assert plane.read_run(run.id).state.type is StateType.CANCELLING
        # And once the clock passes the 300 s grace, SIGKILL ends it
        timers.advance(0.2)
        wait_until(lambda: all(_gone(pid) for pid in pids), 30, message="the tree killed")
        _settle_process_layer()

        def cancelled() -> bool:  # the drain of its output and the reports wait on the clock
            if plane.read_run(run.id).state.type is StateType.CANCELLED:
                return True
            timers.advance(0.5)
            return False

        final = wait_until(cancelled, 30, interval=0.02) and plane.read_run(run.id)
        assert "SIGKILL after the 300s grace" in (final.state.message or ""), final.state.message
    finally:
        sup.stop(timeout=20)


def test_a_hard_stop_leaves_the_timers_to_a_tree_still_ending_then_closes_them(tmp_path):
    # Given a supervisor whose run ignores SIGTERM, with a 2 s grace
    timers = ThreadScheduler(name="test-hard-stop-timers")
    plane = MemoryControlPlane(Clock())
    ignore = ("import signal; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
              "print('up', flush=True); signal.pause()")
    job = {"name": "stubborn", "command": [sys.executable, "-c", ignore], "kill_grace": 2}
    sup = Supervisor(make_settings(tmp_path, [job]), control_plane=plane, scheduler=timers,
                     environment=dict(os.environ))
    sup.start()
    run = plane.create_run("stubborn", {}, Clock().now())
    sup.nudge()
    pid = wait_until(lambda: plane.read_run(run.id).pid, 30, message="running")
    log = sup.settings.supervisor.log_dir / f"{run.id}.log"
    wait_until(lambda: log.exists() and "up" in log.read_text(), 30, message="ignoring SIGTERM")
    # When it is stopped hard, before the grace is over
    sup.stop(timeout=0.1)
    # Then the timers keep running for the tree's SIGKILL, and close once it has ended
    assert not _gone(pid) and timer_threads() == ["test-hard-stop-timers"]
    actors = [t.name for t in threading.enumerate() if re.fullmatch(r"\w+Actor-\d+", t.name)]
    assert actors == [], "the actors' threads must not outlive a hard stop"
    wait_until(lambda: _gone(pid), 30, message="killed after its grace")
    wait_until(lambda: timer_threads() == [], 30, message="the timers closed")


def timer_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name == "test-hard-stop-timers"]
