"""Suite-wide fixtures: nothing a test starts may outlive it."""

from __future__ import annotations

import contextlib
import os
import signal

import pytest

from tests import leaks
from tests.waiting import wait_until

if os.environ.get("PYTEST_XDIST_WORKER"):  # a worker checks only what its own tests started
    os.environ[leaks.SESSION_VAR] = leaks.new_session_value()
else:
    os.environ.setdefault(leaks.SESSION_VAR, leaks.new_session_value())

pytest_plugins = ["tests.prefect.fixtures"]  # prefect_server, prefect_api: real Prefect servers


@pytest.fixture(autouse=True)
def no_process_escapes():
    """Fail a test that leaves a process (found by the session cookie) or a zombie behind,
    then kill what it left so later tests start clean."""
    yield
    try:
        wait_until(lambda: not leaks.processes_of_session(), timeout=10, message="no leftovers")
    except AssertionError:
        left = leaks.processes_of_session()
        for pid, _ in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pytest.fail(f"processes left behind: {left}")
    try:
        wait_until(lambda: not leaks.zombie_children(), timeout=5, message="no zombies")
    except AssertionError:
        pytest.fail(f"zombie children left behind: {leaks.zombie_children()}")
