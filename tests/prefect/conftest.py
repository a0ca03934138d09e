"""Real Prefect servers for the tests under tests/prefect/: each version started once a session.

`prefect_server` is parametrized over both versions (ids "prefect2", "prefect3"); pytest groups
the tests by version, so one server runs at a time. Without a built venv the tests skip, unless
SUPERVISOR_PREFECT_TESTS=required (CI), where that is a failure.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.prefect.api import PrefectApi
from tests.prefect.server import PrefectServer

VERSIONS = {"prefect2": "2.19.9", "prefect3": "3.4.25"}
REQUIRED_VAR = "SUPERVISOR_PREFECT_TESTS"
_started: list[PrefectServer] = []


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED_VAR) == "required":
        pytest.fail(f"{reason} ({REQUIRED_VAR}=required)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session", params=list(VERSIONS.values()), ids=list(VERSIONS))
def prefect_server(request: pytest.FixtureRequest) -> Iterator[PrefectServer]:
    """A running server shared by the session. A test that stops it must start it again."""
    server = PrefectServer(request.param)
    if not server.ready:
        where = f"{server.version} venv at {server.python}"
        _unavailable(f"no Prefect {where}: run scripts/prefect-venvs")
    server.start()
    _started.append(server)
    try:
        yield server
    finally:
        _started.remove(server)
        server.close()


@pytest.fixture(autouse=True)
def restart_a_stopped_server() -> Iterator[None]:
    """A test that stopped the shared server and failed before starting it again must not take
    the rest of the session down with it."""
    yield
    for server in _started:
        if not server.running:
            server.start()


@pytest.fixture
def prefect_api(prefect_server: PrefectServer) -> Iterator[PrefectApi]:
    """A REST helper (tests/prefect/api.py) on the session's server."""
    with PrefectApi(prefect_server.api_url) as api:
        yield api
