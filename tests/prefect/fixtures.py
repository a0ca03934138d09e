"""Real Prefect servers for tests: each version started once a session.

A pytest plugin registered by tests/conftest.py, so any test module (tests/controlplane/,
tests/integration/, tests/prefect/) can ask for the fixtures and all share one server per version.
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
    """A running server shared by the session's tests of its version. A test may stop() it;
    it is started again before the next test that asks for it."""
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


def _version_wanted(item: pytest.Item | None) -> str | None:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("prefect_server") if callspec else None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test on a Prefect server runs on one xdist worker (`--dist loadgroup`), in order:
    one server at a time, started once a session, as on a single process."""
    for item in items:
        if "prefect_server" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.xdist_group("prefect"))


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Before any fixture of the test: its server is up, even if an earlier test stopped it
    (and failed before starting it again) or it was paused after its last neighbour."""
    for server in _started:
        if server.version == _version_wanted(item) and not server.running:
            server.start()


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """After the last of a run of tests on one server, stop it (its database stays): an idle
    server's services would keep taking CPU from the rest of the suite."""
    for server in _started:
        if server.version != _version_wanted(nextitem) and server.running:
            server.stop()


@pytest.fixture
def prefect_api(prefect_server: PrefectServer) -> Iterator[PrefectApi]:
    """A REST helper (tests/prefect/api.py) on the session's server."""
    with PrefectApi(prefect_server.api_url) as api:
        yield api


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The shared Postgres-backed servers (tests/prefect/postgres.py) live for the session."""
    from tests.prefect.postgres import close_shared

    close_shared()
