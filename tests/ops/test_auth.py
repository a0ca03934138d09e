"""The auth matrix: cancel and shutdown need the bearer token; reads and nudge do not."""

from __future__ import annotations

import httpx
import pytest

from supervisor.ops.auth import BearerAuth
from supervisor.ops.server import OpsServer
from tests.ops.conftest import TOKEN
from tests.ops.fakes import RUN_ID, FakeView

GUARDED = [("POST", f"/runs/{RUN_ID}/cancel"), ("POST", "/shutdown")]
OPEN = [("GET", "/health"), ("GET", "/actors"), ("GET", "/runs"), ("GET", f"/runs/{RUN_ID}"),
        ("GET", "/metrics"), ("POST", "/nudge")]


def _effects(view: FakeView) -> tuple[object, ...]:
    return (tuple(view.cancelled), view.shutdown_asked.is_set())


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_no_token_is_401_and_does_nothing(
    server: OpsServer, view: FakeView, method: str, path: str
) -> None:
    response = httpx.request(method, server.url + path, trust_env=False)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "Authorization" in response.json()["error"]
    assert _effects(view) == ((), False)


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize(
    "header", ["Bearer wrong-token", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer é"]
)
def test_wrong_token_is_403_and_does_nothing(
    server: OpsServer, view: FakeView, method: str, path: str, header: str
) -> None:
    response = httpx.request(
        method, server.url + path, headers={"Authorization": header.encode()}, trust_env=False
    )
    assert response.status_code == 403
    assert response.json() == {"error": "wrong token"}
    assert _effects(view) == ((), False)


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize("header", [TOKEN, f"Basic {TOKEN}", "Bearer"])
def test_malformed_authorization_is_401(
    server: OpsServer, view: FakeView, method: str, path: str, header: str
) -> None:
    response = httpx.request(
        method, server.url + path, headers={"Authorization": header}, trust_env=False
    )
    assert response.status_code == 401
    assert _effects(view) == ((), False)


@pytest.mark.parametrize(("method", "path"), GUARDED)
def test_right_token_is_accepted(server: OpsServer, method: str, path: str) -> None:
    for scheme in ("Bearer", "bearer"):
        response = httpx.request(
            method, server.url + path, headers={"Authorization": f"{scheme} {TOKEN}"},
            trust_env=False,
        )
        assert response.status_code == 202


@pytest.mark.parametrize(("method", "path"), GUARDED)
@pytest.mark.parametrize("header", [None, "Bearer anything", "Bearer"])
def test_no_token_configured_turns_the_routes_off(
    open_server: OpsServer, view: FakeView, method: str, path: str, header: str | None
) -> None:
    headers = {"Authorization": header} if header else {}
    response = httpx.request(method, open_server.url + path, headers=headers, trust_env=False)
    assert response.status_code == 403
    assert "no ops token configured" in response.json()["error"]
    assert _effects(view) == ((), False)


@pytest.mark.parametrize(("method", "path"), OPEN)
def test_reads_and_nudge_need_no_token(open_server: OpsServer, method: str, path: str) -> None:
    response = httpx.request(method, open_server.url + path, trust_env=False)
    assert response.status_code in (200, 202)


def test_auth_is_checked_before_the_run_id_is_parsed(server: OpsServer) -> None:
    response = httpx.post(server.url + "/runs/not-a-uuid/cancel", trust_env=False)
    assert response.status_code == 401


def test_an_empty_token_counts_as_none() -> None:
    assert not BearerAuth("").configured
    denied = BearerAuth("").check("Bearer ")
    assert denied is not None and denied.status == 403
