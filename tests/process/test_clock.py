"""The layer's deadlines run on the scheduler a run is started with: a manual clock drives them.

Real trees, fake time: SIGKILL comes when the clock passes the grace and not a tick before; a
drain that an escapee holds open is forced closed when the clock passes the drain deadline.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading

import pytest

from supervisor.process import ExitReason, runtime
from supervisor.process.run import DRAIN
from supervisor.timers import ManualScheduler
from tests.process.helpers import Started, pids_in, python
from tests.process.test_start import ESCAPE
from tests.waiting import wait_until


def flush_worker() -> None:
    """Wait until the layer's ender has run every step submitted so far (a kill, say)."""
    done = threading.Event()
    runtime.get().worker.submit(lambda _snap: done.set())
    assert done.wait(10)


def flush_pump() -> None:
    """Wait until the output thread has run every call queued so far (a forced close, say)."""
    done = threading.Event()
    runtime.get().pump.call_soon(done.set)
    assert done.wait(10)


def result_on(started: Started, timers: ManualScheduler) -> None:
    """Wait for the run to be done; if its output is still draining, pass the drain on the
    manual clock too (the pump may see EOF after the ender saw the tree end)."""

    def done() -> bool:
        if not started.run.done and any(abs(d - DRAIN) < 1e-9 for d in timers.pending()):
            timers.advance(DRAIN)
        return started.run.done

    wait_until(done, 30, message="the run's result")


def test_sigkill_comes_exactly_when_the_manual_clock_passes_the_grace():
    # Given a tree of three processes ignoring SIGTERM, started on a manual clock
    timers = ManualScheduler()
    started = python("ignores_term.py", "2", scheduler=timers)
    try:
        started.wait_line("child ", 2)
        pids = pids_in(started.wait_line("ready"), "ready") + pids_in(started.lines, "child ")
        wait_until(lambda: sorted(started.alive()) == sorted(pids), 10, message="3 processes")
        # When it is cancelled with a 5 s grace, its deadline is 5 s away on that clock
        started.run.terminate(grace=5)
        wait_until(lambda: timers.pending() == [5.0], 10, message="the grace deadline")
        # Then after 4.9 s nothing is killed: the tree is whole and the run is not done
        timers.advance(4.9)
        flush_worker()
        assert timers.pending() == [pytest.approx(0.1)]
        assert sorted(started.alive()) == sorted(pids) and not started.run.done
        # And once the clock passes the grace, SIGKILL ends the whole tree
        timers.advance(0.2)
        result_on(started, timers)
        result = started.result()
        assert result.escalated and (result.returncode, result.signal_name) == (-9, "SIGKILL")
        assert result.message == "cancelled: SIGTERM ignored, SIGKILL after the 5s grace"
        assert result.reason is ExitReason.CANCELLED and started.alive() == []
    finally:  # a failed step must not leave three SIGTERM-proof processes to the leak check
        for pid in started.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_a_held_output_is_forced_closed_when_the_manual_clock_passes_the_drain():
    # Given a run whose main exits while an escapee (no cookie, own session) holds its output
    timers = ManualScheduler()
    started = Started((sys.executable, "-c", ESCAPE), scheduler=timers)
    try:
        # When its tree has ended, the drain deadline waits on the manual clock
        wait_until(lambda: timers.pending() == [DRAIN], 30, message="the drain deadline")
        timers.advance(DRAIN - 0.1)
        flush_pump()
        assert not started.run.done and timers.pending() == [pytest.approx(0.1)]
        # Then passing it closes the output and the result arrives
        timers.advance(0.2)
        result = started.result()
        assert (result.reason, result.returncode) == (ExitReason.EXITED, 0)
    finally:
        for pid in pids_in(started.lines, "escaped"):
            os.kill(pid, signal.SIGKILL)
