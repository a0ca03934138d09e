"""The fake launcher keeps the real process layer's contract; both pass the same tests."""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Callable

import pytest

from supervisor.models import StateType
from supervisor.process import ExitReason, ExitResult, ProcessSpec, start_process
from tests.actors.fakes import FakeLauncher

SLEEP = (sys.executable, "-c", "import signal; signal.pause()")


class Real:
    """Drives real processes; `finish` ends one the way its program would."""

    launch = staticmethod(start_process)

    def cannot_start(self, spec: ProcessSpec) -> ProcessSpec:
        return ProcessSpec(spec.run_id, ("/nonexistent/program",), kill_grace=spec.kill_grace)

    def exiting(self, spec: ProcessSpec, code: int) -> ProcessSpec:
        argv = (sys.executable, "-c", f"import sys; sys.exit({code})")
        return ProcessSpec(spec.run_id, argv, kill_grace=spec.kill_grace)

    def finish(self, process: object) -> None:
        pass


class Fake:
    def __init__(self) -> None:
        self.launch = FakeLauncher()

    def cannot_start(self, spec: ProcessSpec) -> ProcessSpec:
        self.launch.cannot_start[spec.run_id] = "[Errno 2] No such file or directory"
        return spec

    def exiting(self, spec: ProcessSpec, code: int) -> ProcessSpec:
        self._code = code
        return spec

    def finish(self, process: object) -> None:
        process.exit(self._code)  # type: ignore[attr-defined]


@pytest.fixture(params=[Real, Fake], ids=["real", "fake"])
def layer(request: pytest.FixtureRequest) -> Real | Fake:
    return request.param()


def _spec() -> ProcessSpec:
    return ProcessSpec(str(uuid.uuid4()), SLEEP, kill_grace=5.0)


def _collector() -> tuple[list[ExitResult], threading.Event, Callable[[ExitResult], None]]:
    results: list[ExitResult] = []
    done = threading.Event()

    def on_exit(result: ExitResult) -> None:
        results.append(result)
        done.set()

    return results, done, on_exit


def test_a_start_failure_is_a_done_process_whose_exit_already_fired(layer):
    results, _, on_exit = _collector()
    process = layer.launch(layer.cannot_start(_spec()), on_exit=on_exit)
    assert process.done and process.pid is None
    assert results == [process.result]
    assert process.result.reason is ExitReason.START_FAILED
    assert process.result.state_type is StateType.CRASHED
    assert process.result.message.startswith("could not start: ")


def test_terminate_returns_at_once_and_the_exit_fires_once_with_the_reason(layer):
    results, done, on_exit = _collector()
    process = layer.launch(_spec(), on_exit=on_exit)
    assert not process.done and process.pid
    process.terminate(5.0, ExitReason.CANCELLED)
    process.terminate(5.0, ExitReason.CANCELLED)
    assert done.wait(20)
    assert process.wait(5) is results[0]
    assert len(results) == 1
    assert results[0].reason is ExitReason.CANCELLED
    assert results[0].state_type is StateType.CANCELLED


@pytest.mark.parametrize(("code", "state"), [(0, StateType.COMPLETED), (3, StateType.CRASHED)])
def test_an_exit_on_its_own_is_explained(layer, code, state):
    results, done, on_exit = _collector()
    process = layer.launch(layer.exiting(_spec(), code), on_exit=on_exit)
    layer.finish(process)
    assert done.wait(20)
    assert results[0].reason is ExitReason.EXITED
    assert results[0].returncode == code and results[0].state_type is state
    assert process.tree() == [] or all(p.pid for p in process.tree())
