"""The in-memory fake passes the port's contract, and its test hooks work."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from supervisor.clock import Clock
from supervisor.controlplane.memory import MemoryControlPlane
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable
from supervisor.models import State, StateType
from tests.controlplane.contract import ControlPlaneContract, deployment


class TestMemoryContract(ControlPlaneContract):
    @pytest.fixture
    def plane(self, clock: Clock) -> Iterator[MemoryControlPlane]:
        plane = MemoryControlPlane(clock=clock)
        yield plane
        plane.close()


def test_fail_next_simulates_an_outage_then_recovers() -> None:
    plane = MemoryControlPlane()
    plane.register_deployments([deployment()])
    plane.fail_next(2)
    for _ in range(2):
        with pytest.raises(ControlPlaneUnavailable):
            plane.create_run("etl")
    assert plane.create_run("etl").deployment == "etl"
    assert plane.calls == ["register_deployments"] + ["create_run"] * 3


def test_fail_next_only_for_some_methods() -> None:
    plane = MemoryControlPlane()
    plane.register_deployments([deployment()])
    run = plane.create_run("etl")
    plane.fail_next(1, RuntimeError("driver bug"), only={"set_state"})
    assert plane.read_run(run.id).id == run.id  # reads are not affected
    with pytest.raises(RuntimeError, match="driver bug"):
        plane.set_state(run.id, State.of(StateType.PENDING))
    assert plane.set_state(run.id, State.of(StateType.PENDING)).accepted


def test_closed_plane_refuses_calls() -> None:
    plane = MemoryControlPlane()
    plane.close()
    with pytest.raises(ControlPlaneError):
        plane.read_deployments()
