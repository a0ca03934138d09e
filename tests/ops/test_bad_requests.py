"""Bad requests get a 4xx (or 5xx) with a JSON error, and the server keeps serving."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator

import httpx
import pykka
import pytest

from supervisor.errors import ControlPlaneUnavailable, SupervisorError
from supervisor.ops.server import MAX_BODY, OpsServer
from tests.ops.conftest import IMPATIENT
from tests.ops.fakes import RUN_ID, FakeView
from tests.ops.rawhttp import exchange


@pytest.fixture(autouse=True)
def still_serving(server: OpsServer, view: FakeView) -> Iterator[None]:
    """After every test here: the server answers, healthy."""
    yield
    view.fail = None
    view.stall.clear()
    view.release.set()
    assert httpx.get(server.url + "/health", trust_env=False).status_code == 200


def _error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    message = response.json()["error"]
    assert isinstance(message, str) and message
    return message


@pytest.mark.parametrize("path", ["/nope", "/runs/a/b", "/runs//cancel/x", "/health/x", "/runs//"])
def test_unknown_path_is_404(http: httpx.Client, path: str) -> None:
    assert "no such endpoint" in _error(http.get(path), 404)


@pytest.mark.parametrize("run_id", ["xyz", "123", "%ZZ", "6f1c2d3e-4a5b-4c6d-8e7f-8091a2b3c4dX"])
def test_malformed_run_id_is_400(http: httpx.Client, admin: httpx.Client, run_id: str) -> None:
    assert "not a run id" in _error(http.get(f"/runs/{run_id}"), 400)
    assert "not a run id" in _error(admin.post(f"/runs/{run_id}/cancel"), 400)


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [("DELETE", "/runs", "GET"), ("GET", "/shutdown", "POST"), ("POST", "/health", "GET"),
     ("PUT", f"/runs/{RUN_ID}/cancel", "POST"), ("GET", "/nudge", "POST"),
     ("PATCH", "/metrics", "GET"), ("OPTIONS", "/actors", "GET")],
)
def test_wrong_method_is_405_with_allow(
    http: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = http.request(method, path)
    assert "not allowed" in _error(response, 405)
    assert response.headers["allow"] == allowed


def test_unknown_method_is_501_json(http: httpx.Client) -> None:
    _error(http.request("BREW", "/health"), 501)


def test_huge_body_is_413_and_the_client_reads_the_answer(
    http: httpx.Client, admin: httpx.Client, view: FakeView
) -> None:
    assert "too large" in _error(http.post("/nudge", content=b"x" * (MAX_BODY + 1)), 413)
    big = b"{" + b" " * (4 * 1024 * 1024) + b"}"
    assert "too large" in _error(admin.post(f"/runs/{RUN_ID}/cancel", content=big), 413)
    assert not view.nudged.is_set()
    assert view.cancelled == []


def test_a_body_at_the_limit_is_read(http: httpx.Client, view: FakeView) -> None:
    assert http.post("/nudge", content=b"x" * MAX_BODY).status_code == 202
    assert view.nudged.is_set()


def test_chunked_body_is_411(http: httpx.Client) -> None:
    _error(http.post("/nudge", content=iter([b"a", b"b"])), 411)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"1e3"])
def test_bad_content_length_is_400(server: OpsServer, length: bytes) -> None:
    request = b"POST /nudge HTTP/1.1\r\nHost: x\r\nContent-Length: " + length + b"\r\n\r\n"
    status, _, body = exchange(server.port, request)
    assert status == 400
    assert "Content-Length" in body["error"]


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [(b"garbage\r\n\r\n", 400), (b"GET /health HTTP/9.9\r\n\r\n", 505),
     (b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n", 414),
     (b"GET /health HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n", 431)],
)
def test_malformed_http_gets_a_json_error(server: OpsServer, request_bytes: bytes,
                                          status: int) -> None:
    got, headers, body = exchange(server.port, request_bytes)
    assert got == status
    assert headers["content-type"] == "application/json"
    assert body["error"]


NESTED = b"[" * 30000 + b"]" * 30000  # under MAX_BODY, past json's recursion limit (chaos)


@pytest.mark.parametrize("body", [b"not json", b"[1]", b'{"by": 3}', b"\xff\xfe", NESTED,
                                  b'{"by": "\\ud800"}', b'{"by": "a\\nb"}'])
def test_bad_cancel_body_is_400(admin: httpx.Client, view: FakeView, body: bytes) -> None:
    assert "JSON object" in _error(admin.post(f"/runs/{RUN_ID}/cancel", content=body), 400)
    assert view.cancelled == []


@pytest.mark.parametrize(
    "exc", [TimeoutError("ask timed out"), pykka.Timeout("ask timed out"),
            ControlPlaneUnavailable("database is locked")],
)
def test_a_timeout_or_unavailable_system_is_503(
    http: httpx.Client, view: FakeView, exc: Exception
) -> None:
    view.fail = exc
    response = http.get("/runs")
    assert str(exc) in _error(response, 503)
    assert response.headers["retry-after"] == "1"


def test_a_known_failure_is_503_without_a_traceback(
    admin: httpx.Client, view: FakeView, caplog: pytest.LogCaptureFixture
) -> None:
    view.fail = SupervisorError("the supervisor is not running")
    with caplog.at_level(logging.WARNING, logger="supervisor.ops"):
        message = _error(admin.post(f"/runs/{RUN_ID}/cancel"), 503)
    assert message == "SupervisorError: the supervisor is not running"
    assert [r.exc_info for r in caplog.records] == [None]


def test_a_bug_in_the_view_is_a_logged_500(
    http: httpx.Client, view: FakeView, caplog: pytest.LogCaptureFixture
) -> None:
    view.fail = RuntimeError("boom")
    with caplog.at_level(logging.ERROR, logger="supervisor.ops"):
        assert "RuntimeError: boom" in _error(http.get("/actors"), 500)
    assert any("GET /actors failed" in r.getMessage() for r in caplog.records)


def test_a_stalled_system_answers_503_instead_of_hanging(
    impatient_server: OpsServer, view: FakeView
) -> None:
    view.stall.set()
    url = impatient_server.url
    for path in ("/health", "/actors", "/runs", f"/runs/{RUN_ID}"):
        response = httpx.get(url + path, trust_env=False)
        assert f"did not answer within {IMPATIENT}s" in _error(response, 503)
    assert "did not answer" in _error(httpx.post(url + "/nudge", trust_env=False), 503)


def test_a_stalled_metrics_callback_answers_503(
    impatient_server: OpsServer, view: FakeView
) -> None:
    view.metrics.track_slots(lambda: float(view.release.wait(30)), lambda: 1.0)
    response = httpx.get(impatient_server.url + "/metrics", trust_env=False)
    assert "did not answer" in _error(response, 503)


def test_too_many_stalled_calls_are_refused_at_once(
    impatient_server: OpsServer, view: FakeView
) -> None:
    view.stall.set()
    url = impatient_server.url
    answers: list[int] = []

    def ask() -> None:
        answers.append(httpx.get(url + "/runs", trust_env=False, timeout=5).status_code)

    threads = [threading.Thread(target=ask) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [503] * 12
    response = httpx.get(url + "/runs", trust_env=False)
    assert "too many requests" in _error(response, 503)
    view.release.set()
