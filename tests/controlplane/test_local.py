"""The SQLite adapter passes the port's contract (more local behaviour in test_local_*.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.clock import Clock
from supervisor.controlplane.local import LocalControlPlane
from tests.controlplane.contract import ControlPlaneContract


class TestLocalContract(ControlPlaneContract):
    @pytest.fixture
    def plane(self, clock: Clock, tmp_path: Path) -> Iterator[LocalControlPlane]:
        plane = LocalControlPlane(tmp_path / "state.db", clock=clock)
        yield plane
        plane.close()
