"""The foreground loop of `start`, in-process with a stand-in for the Supervisor facade:
the first signal stops (off the main thread), a second kills, a self-stop needs no signal."""

from __future__ import annotations

import threading

import pytest

from supervisor.cli.start import SignalLatch, supervise


class StandInSupervisor:
    """The facade's public shape: stop() blocks until the system is down, or until kill()."""

    def __init__(self, *, stop_blocks: bool = False, stop_error: Exception | None = None) -> None:
        self.stopped = threading.Event()
        self.unblock = threading.Event()
        self.stop_calls: list[float] = []
        self.stop_threads: list[str] = []
        self.kills = 0
        self._stop_blocks = stop_blocks
        self._stop_error = stop_error

    def stop(self, timeout: float = 30.0, *, drain: float = 0.0) -> None:
        self.stop_calls.append(drain)
        self.stop_threads.append(threading.current_thread().name)
        if self._stop_error is not None:
            self.stopped.set()
            raise self._stop_error
        if self._stop_blocks:
            assert self.unblock.wait(10), "kill() never came"
        self.stopped.set()

    def kill(self) -> None:
        self.kills += 1
        self.unblock.set()

    def wait(self, timeout: float | None = None) -> bool:
        return self.stopped.wait(timeout)


def signalled(times: int) -> SignalLatch:
    latch = SignalLatch()
    for _ in range(times):
        latch(15, None)
    return latch


def test_the_first_signal_stops_with_the_drain_off_the_main_thread():
    sup = StandInSupervisor()
    supervise(sup, signalled(1), drain=2.5)  # type: ignore[arg-type]
    assert sup.stop_calls == [2.5]
    assert sup.stop_threads != [threading.current_thread().name]
    assert sup.kills == 0


def test_a_second_signal_kills_while_stop_is_still_draining():
    sup = StandInSupervisor(stop_blocks=True)
    supervise(sup, signalled(2), drain=60)  # type: ignore[arg-type]
    assert sup.stop_calls == [60] and sup.kills == 1


def test_a_system_that_stops_by_itself_needs_no_signal():
    sup = StandInSupervisor()
    sup.stopped.set()
    supervise(sup, SignalLatch(), drain=0)  # type: ignore[arg-type]
    assert sup.stop_calls == [] and sup.kills == 0


def test_an_error_in_stop_reaches_the_main_thread():
    sup = StandInSupervisor(stop_error=RuntimeError("actors would not stop"))
    with pytest.raises(RuntimeError, match="actors would not stop"):
        supervise(sup, signalled(1), drain=0)  # type: ignore[arg-type]
