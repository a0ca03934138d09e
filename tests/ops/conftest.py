"""A real OpsServer on a free loopback port, driven by a FakeView; httpx clients to hit it."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from supervisor.ops.server import OpsServer
from tests.ops.browser import chrome
from tests.ops.fakes import FakeView

TOKEN = "s3cret-token"
IMPATIENT = 0.2


@pytest.fixture
def view() -> Iterator[FakeView]:
    fake = FakeView()
    yield fake
    fake.release.set()  # free any call a test left stalled


def _serve(view: FakeView, token: str | None, **options: float) -> Iterator[OpsServer]:
    server = OpsServer(view, "127.0.0.1", 0, token, **options)
    server.start()
    try:
        yield server
    finally:
        view.release.set()
        server.stop()


@pytest.fixture
def server(view: FakeView) -> Iterator[OpsServer]:
    yield from _serve(view, TOKEN)


@pytest.fixture
def open_server(view: FakeView) -> Iterator[OpsServer]:
    """No token configured: cancel and shutdown are off."""
    yield from _serve(view, None)


@pytest.fixture
def impatient_server(view: FakeView) -> Iterator[OpsServer]:
    """Gives up on the system after 0.2 s (for tests that stall it)."""
    yield from _serve(view, TOKEN, view_timeout=IMPATIENT)


@pytest.fixture
def http(server: OpsServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=5, trust_env=False) as client:
        yield client


@pytest.fixture
def admin(server: OpsServer) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, timeout=5, trust_env=False, headers=headers) as client:
        yield client


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A port bound but not listening: connecting is refused, and no one else can take it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """One headless Chromium shared by every dashboard test of the session."""
    yield from chrome()
