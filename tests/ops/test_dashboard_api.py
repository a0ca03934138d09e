"""The endpoints the dashboard reads and acts through: a run's log by offset, recent runs,
deployments, and run now / pause / resume (token only)."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest

from supervisor.ops.runlog import CHUNK
from tests.ops.fakes import RUN_ID, FakeView


@pytest.fixture
def logs(view: FakeView, tmp_path: Path) -> Path:
    view.log_dir = tmp_path
    return tmp_path / f"{RUN_ID}.log"


def test_log_from_an_offset_says_where_to_ask_next(http: httpx.Client, logs: Path) -> None:
    logs.write_bytes(b"line one\nline <b>two</b>\n")
    first = http.get(f"/runs/{RUN_ID}/log").json()
    assert first == {"id": str(RUN_ID), "offset": 0, "next_offset": 25, "size": 25,
                     "text": "line one\nline <b>two</b>\n", "complete": False}
    later = http.get(f"/runs/{RUN_ID}/log", params={"offset": 9}).json()
    assert (later["text"], later["next_offset"]) == ("line <b>two</b>\n", 25)
    at_end = http.get(f"/runs/{RUN_ID}/log", params={"offset": 25}).json()
    assert (at_end["text"], at_end["next_offset"], at_end["complete"]) == ("", 25, False)


def test_a_log_not_written_yet_is_empty(http: httpx.Client, logs: Path) -> None:
    body = http.get(f"/runs/{RUN_ID}/log?offset=0").json()
    assert (body["text"], body["next_offset"], body["size"]) == ("", 0, 0)


def test_a_log_is_complete_once_the_run_ended_and_it_is_read_to_the_end(
    http: httpx.Client, view: FakeView, logs: Path
) -> None:
    logs.write_bytes(b"done\n")
    view.ended.add(RUN_ID)
    assert http.get(f"/runs/{RUN_ID}/log?offset=0").json()["complete"] is True
    assert http.get(f"/runs/{RUN_ID}/log?offset=2").json()["complete"] is True


def test_a_big_log_comes_in_bounded_chunks(http: httpx.Client, view: FakeView,
                                           logs: Path) -> None:
    logs.write_bytes(b"x" * (CHUNK * 2 + 10))
    view.ended.add(RUN_ID)
    offset, chunks = 0, []
    while True:
        body = http.get(f"/runs/{RUN_ID}/log", params={"offset": offset}).json()
        chunks.append(len(body["text"]))
        offset = body["next_offset"]
        if body["complete"]:
            break
    assert chunks == [CHUNK, CHUNK, 10]


def test_a_chunk_never_ends_inside_a_character_while_the_run_writes(
    http: httpx.Client, view: FakeView, logs: Path
) -> None:
    logs.write_bytes(b"caf\xc3")  # "é" half written
    body = http.get(f"/runs/{RUN_ID}/log").json()
    assert (body["text"], body["next_offset"]) == ("caf", 3)
    logs.write_bytes("café\n".encode())
    body = http.get(f"/runs/{RUN_ID}/log", params={"offset": 3}).json()
    assert (body["text"], body["next_offset"]) == ("é\n", 6)


def test_bad_bytes_of_an_ended_run_are_shown_replaced(http: httpx.Client, view: FakeView,
                                                      logs: Path) -> None:
    logs.write_bytes(b"ok \xff\xc3")
    view.ended.add(RUN_ID)
    body = http.get(f"/runs/{RUN_ID}/log").json()
    assert (body["text"], body["next_offset"], body["complete"]) == ("ok \ufffd\ufffd", 5, True)


@pytest.mark.parametrize("offset", ["abc", "-1", "1.5", "", "\u0661"])
def test_a_bad_offset_is_400_naming_it(http: httpx.Client, logs: Path, offset: str) -> None:
    response = http.get(f"/runs/{RUN_ID}/log", params={"offset": offset})
    assert response.status_code == 400
    assert response.json()["error"].startswith(f"bad offset: {offset!r}")


def test_an_offset_past_the_end_is_400(http: httpx.Client, logs: Path) -> None:
    logs.write_bytes(b"12345")
    response = http.get(f"/runs/{RUN_ID}/log?offset=6")
    assert response.status_code == 400
    assert response.json() == {"error": "bad offset: 6 is past the end of the log (5 bytes)"}


def test_the_log_of_an_unknown_run_is_404(http: httpx.Client, logs: Path) -> None:
    unknown = uuid.uuid4()
    response = http.get(f"/runs/{unknown}/log")
    assert response.status_code == 404
    assert str(unknown) in response.json()["error"]
    assert http.get("/runs/not-a-uuid/log").status_code == 400


def test_history_filters_by_deployment_and_state(http: httpx.Client, view: FakeView) -> None:
    other = {**view.history[0], "id": str(uuid.uuid4()), "deployment": "hourly",
             "state": {**view.history[0]["state"], "type": "FAILED", "name": "Failed"}}
    view.history.append(other)
    assert len(http.get("/history").json()) == 2
    assert [r["id"] for r in http.get("/history?deployment=hourly").json()] == [other["id"]]
    assert [r["id"] for r in http.get("/history?state=failed").json()] == [other["id"]]
    assert http.get("/history?deployment=hourly&state=RUNNING").json() == []
    assert len(http.get("/history?limit=1").json()) == 1


@pytest.mark.parametrize("query, message", [
    ("state=SLEEPY", "bad state: 'SLEEPY' (one of SCHEDULED, PENDING"),
    ("limit=0", "bad limit: '0' (1 to 500)"),
    ("limit=many", "bad limit: 'many' (1 to 500)"),
])
def test_bad_history_filters_are_400(http: httpx.Client, query: str, message: str) -> None:
    response = http.get(f"/history?{query}")
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_deployments_are_listed(http: httpx.Client) -> None:
    [nightly] = http.get("/deployments").json()
    assert (nightly["name"], nightly["paused"], nightly["timeout"]) == ("nightly", False, 600.0)


@pytest.mark.parametrize("action", ["run", "pause", "resume"])
def test_deployment_actions_need_the_token(http: httpx.Client, view: FakeView,
                                           action: str) -> None:
    response = http.post(f"/deployments/nightly/{action}")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    wrong = http.post(f"/deployments/nightly/{action}", headers={"Authorization": "Bearer no"})
    assert wrong.status_code == 403
    assert view.created == [] and view.deployment_list[0]["paused"] is False


def test_run_now_pause_and_resume_with_the_token(admin: httpx.Client, view: FakeView) -> None:
    created = admin.post("/deployments/nightly/run")
    assert created.status_code == 201
    assert created.json()["deployment"] == "nightly"
    assert view.created == ["nightly"]
    assert admin.post("/deployments/nightly/pause").json()["paused"] is True
    assert view.deployment_list[0]["paused"] is True
    assert admin.post("/deployments/nightly/resume").json()["paused"] is False


def test_actions_on_an_unknown_deployment_are_404(admin: httpx.Client) -> None:
    response = admin.post("/deployments/%3Cimg%3E/run")
    assert response.status_code == 404
    assert response.json() == {"error": "no deployment named '<img>'"}
