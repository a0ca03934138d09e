"""Every endpoint of a real OpsServer, answering from a fake system."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

from supervisor.ops.server import OpsServer
from tests.ops.fakes import RUN_ID, FakeView, a_run


def test_port_zero_binds_a_free_port_and_url_names_it(server: OpsServer) -> None:
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"


def test_index_lists_the_endpoints(http: httpx.Client) -> None:
    body = http.get("/").json()
    assert body["name"] == "test-sup"
    assert "POST /runs/{id}/cancel" in body["endpoints"]
    assert "GET /metrics" in body["endpoints"]


def test_health_ok(http: httpx.Client) -> None:
    response = http.get("/health")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "status": "ok", "name": "test-sup", "reason": "pollers ticked 0.2s ago"
    }


def test_health_unhealthy_is_503_with_the_reason(http: httpx.Client, view: FakeView) -> None:
    view.healthy = (False, "schedule-poller has not ticked for 31s")
    response = http.get("/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unhealthy"
    assert body["reason"] == "schedule-poller has not ticked for 31s"
    assert "schedule-poller has not ticked" in body["error"]


def test_head_health_answers_headers_only(http: httpx.Client) -> None:
    response = http.head("/health")
    assert response.status_code == 200
    assert response.content == b""
    assert int(response.headers["content-length"]) > 0


def test_actors_is_the_board_tree(http: httpx.Client, view: FakeView) -> None:
    view.board.update("cancel-poller", restarts=2, last_error="ControlPlaneUnavailable: locked")
    body = http.get("/actors").json()
    assert body == view.board.tree()
    (root,) = body
    assert root["name"] == "supervisor"
    children = {c["name"]: c for c in root["children"]}
    assert children["cancel-poller"]["restarts"] == 2
    assert children["cancel-poller"]["last_error"] == "ControlPlaneUnavailable: locked"
    assert children["schedule-poller"]["last_tick"] == "2026-11-22T03:00:00+00:00"
    run_actor = children[f"run-{RUN_ID}"]
    assert run_actor["owns"]["run_id"] == str(RUN_ID)
    assert [p["pid"] for p in run_actor["owns"]["tree"]] == [4100, 4101, 4102, 4103]


def test_runs_lists_runs_with_their_process_trees(http: httpx.Client) -> None:
    (run,) = http.get("/runs").json()
    assert run == a_run()
    assert run["commit"].startswith("0123456")
    assert {"pid", "ppid", "command", "cpu_percent", "rss", "create_time", "status"} <= set(
        run["tree"][0]
    )


def test_one_run(http: httpx.Client) -> None:
    response = http.get(f"/runs/{RUN_ID}")
    assert response.status_code == 200
    assert response.json()["id"] == str(RUN_ID)


def test_one_run_accepts_a_trailing_slash_and_a_query(http: httpx.Client) -> None:
    assert http.get(f"/runs/{RUN_ID}/?pretty=1").json()["id"] == str(RUN_ID)


def test_a_run_not_in_flight_is_404(http: httpx.Client) -> None:
    other = uuid.uuid4()
    response = http.get(f"/runs/{other}")
    assert response.status_code == 404
    assert str(other) in response.json()["error"]


def test_cancel_with_the_token_cancels_and_returns_the_run(
    admin: httpx.Client, view: FakeView
) -> None:
    response = admin.post(f"/runs/{RUN_ID}/cancel")
    assert response.status_code == 202
    assert response.json()["state"]["type"] == "CANCELLING"
    assert view.cancelled == [(RUN_ID, "ops API")]


def test_cancel_says_who_asked(admin: httpx.Client, view: FakeView) -> None:
    admin.post(f"/runs/{RUN_ID}/cancel", json={"by": "alice"})
    assert view.cancelled == [(RUN_ID, "ops API (alice)")]


def test_cancel_of_a_run_not_in_flight_is_404(admin: httpx.Client, view: FakeView) -> None:
    response = admin.post(f"/runs/{uuid.uuid4()}/cancel")
    assert response.status_code == 404
    assert "in flight" in response.json()["error"]
    assert view.cancelled == []


def test_shutdown_with_the_token_asks_for_a_graceful_stop(
    admin: httpx.Client, view: FakeView
) -> None:
    response = admin.post("/shutdown")
    assert response.status_code == 202
    assert response.json() == {"status": "stopping", "name": "test-sup"}
    assert view.shutdown_asked.is_set()


def test_nudge_needs_no_token(http: httpx.Client, view: FakeView) -> None:
    response = http.post("/nudge")
    assert response.status_code == 202
    assert view.nudged.is_set()


def test_keep_alive_serves_many_requests_on_one_connection(http: httpx.Client) -> None:
    for _ in range(5):
        assert http.get("/health").status_code == 200
    assert http.get("/runs").status_code == 200


def test_values_the_view_left_unconverted_are_still_json(
    http: httpx.Client, view: FakeView
) -> None:
    when = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    view.runs[RUN_ID] = {**a_run(), "claimed": when, "dir": Path("/srv/x"), "tags": {"a"}}
    run = http.get(f"/runs/{RUN_ID}").json()
    assert run["claimed"] == "2026-11-22T03:00:00+00:00"
    assert (run["dir"], run["tags"]) == ("/srv/x", ["a"])


def test_retry_needs_the_token_and_says_who_asked(
    http: httpx.Client, admin: httpx.Client, view: FakeView
) -> None:
    assert http.post(f"/runs/{RUN_ID}/retry").status_code == 401
    assert view.retried == []
    response = admin.post(f"/runs/{RUN_ID}/retry", json={"by": "alice"})
    assert response.status_code == 202
    assert response.json()["state"]["name"] == "AwaitingRetry"
    assert view.retried == [(RUN_ID, "ops API (alice)")]
    assert admin.post(f"/runs/{uuid.uuid4()}/retry").status_code == 404
