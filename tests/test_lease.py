"""The name lease: one holder at a time, released on exit, named clearly when refused."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.errors import SupervisorAlreadyRunning
from supervisor.lease import hold_lease, lease_path


def test_the_lease_file_sits_beside_the_database_per_name(tmp_path: Path) -> None:
    assert lease_path(tmp_path / "state.db", "edge-1") == tmp_path / "state.db.edge-1.lease"


def test_a_second_holder_is_refused_naming_the_name_the_database_and_the_holder(
    tmp_path: Path,
) -> None:
    path = lease_path(tmp_path / "state.db", "edge-1")
    refused = pytest.raises(SupervisorAlreadyRunning)
    with hold_lease(path, "edge-1"), refused, hold_lease(path, "edge-1", on="database state.db"):
        pytest.fail("a second holder got the lease")
    message = str(refused.excinfo.value)
    assert "'edge-1' is already running on database state.db" in message
    assert f"pid {os.getpid()} holds {path}" in message


def test_the_lease_is_free_again_after_release_and_after_its_holder_died(tmp_path: Path) -> None:
    path = lease_path(tmp_path / "state.db", "a")
    with hold_lease(path, "a"):
        pass
    with subprocess.Popen(
        [sys.executable, "-c",
         "import sys, pathlib; from supervisor.lease import hold_lease\n"
         "with hold_lease(pathlib.Path(sys.argv[1]), 'a'):\n"
         "    print('held', flush=True); sys.stdin.read()", str(path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    ) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline() == "held\n"
            refused = pytest.raises(SupervisorAlreadyRunning, match=f"pid {holder.pid} holds")
            with refused, hold_lease(path, "a"):
                pass
        finally:
            holder.kill()  # SIGKILL: the kernel drops its lock
    with hold_lease(path, "a"):
        pass
