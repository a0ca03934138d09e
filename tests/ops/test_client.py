"""OpsClient against a real server, and nudge_supervisor's best effort."""

from __future__ import annotations

import socket
import uuid
from pathlib import Path

import httpx
import pytest

from supervisor.errors import OpsError
from supervisor.ops.client import OpsClient, OpsResponseError, base_url, nudge_supervisor
from supervisor.ops.server import OpsServer
from supervisor.settings import Settings, parse_settings
from tests.ops.conftest import TOKEN
from tests.ops.fakes import RUN_ID, FakeView


def settings_for(port: int, **ops: object) -> Settings:
    return parse_settings({"ops": {"port": port, **ops}}, Path("supervisor.toml"), env={})



def test_reads(server: OpsServer) -> None:
    with OpsClient(server.url) as client:
        assert client.health()["status"] == "ok"
        assert client.actors()[0]["name"] == "supervisor"
        assert client.runs()[0]["id"] == str(RUN_ID)
        assert client.run(RUN_ID)["deployment"] == "nightly"
        assert "supervisor_runs_started_total" in client.metrics()
        assert client.nudge()["status"] == "nudged"


def test_health_returns_an_unhealthy_document_instead_of_raising(
    server: OpsServer, view: FakeView
) -> None:
    view.healthy = (False, "schedule-poller is failed")
    with OpsClient(server.url) as client:
        assert client.health() == {
            "status": "unhealthy", "name": "test-sup", "reason": "schedule-poller is failed",
            "error": "unhealthy: schedule-poller is failed",
        }


def test_cancel_and_shutdown_send_the_token(server: OpsServer, view: FakeView) -> None:
    with OpsClient(server.url, token=TOKEN) as client:
        assert client.cancel(RUN_ID, by="bob")["state"]["type"] == "CANCELLING"
        assert client.shutdown()["status"] == "stopping"
    assert view.cancelled == [(RUN_ID, "ops API (bob)")]
    assert view.shutdown_asked.is_set()


def test_error_answers_raise_with_status_and_message(server: OpsServer) -> None:
    with OpsClient(server.url) as client:
        with pytest.raises(OpsResponseError, match="401 missing Authorization") as caught:
            client.cancel(RUN_ID)
        assert caught.value.status == 401
        with pytest.raises(OpsResponseError, match=r"404 run .* is not in flight") as caught:
            client.run(uuid.uuid4())
        assert caught.value.body["error"]


def test_nothing_listening_is_one_clear_line(refused_port: int) -> None:
    with OpsClient(f"http://127.0.0.1:{refused_port}") as client, pytest.raises(
        OpsError
    ) as caught:
        client.health()
    assert str(caught.value) == (
        f"no supervisor answering at 127.0.0.1:{refused_port} (Connection refused)"
    )


def test_a_slow_answer_is_a_timeout_error(server: OpsServer, view: FakeView) -> None:
    view.stall.set()
    with OpsClient(server.url, timeout=0.1) as client, pytest.raises(
        OpsError, match=r"did not answer within 0\.1s"
    ):
        client.runs()


def test_a_client_that_gave_up_leaves_no_noise_on_stderr(
    impatient_server: OpsServer, view: FakeView, capfd: pytest.CaptureFixture[str]
) -> None:
    view.stall.set()
    with OpsClient(impatient_server.url, timeout=0.05) as client, pytest.raises(OpsError):
        client.runs()
    impatient_server.stop()  # waits for the request, which writes to the closed connection
    assert capfd.readouterr().err == ""


def test_a_non_json_answer_says_so() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, text="<html>"))
    with OpsClient("http://example.test", transport=transport) as client, pytest.raises(
        OpsError, match="non-JSON: is it a supervisor"
    ):
        client.actors()


def test_for_settings_uses_the_ops_section(server: OpsServer) -> None:
    client = OpsClient.for_settings(settings_for(server.port, host="0.0.0.0"))
    with client:
        assert client.base_url == f"http://127.0.0.1:{server.port}"
        assert client.health()["status"] == "ok"


@pytest.mark.parametrize(
    ("host", "url"),
    [("127.0.0.1", "http://127.0.0.1:80"), ("0.0.0.0", "http://127.0.0.1:80"),
     ("::", "http://[::1]:80"), ("::1", "http://[::1]:80"), ("ops.local", "http://ops.local:80")],
)
def test_base_url(host: str, url: str) -> None:
    assert base_url(host, 80) == url


def test_nudge_reaches_a_live_supervisor(server: OpsServer, view: FakeView) -> None:
    assert nudge_supervisor(settings_for(server.port)) is True
    assert view.nudged.is_set()


def test_nudge_with_nothing_listening_is_false_and_quiet(
    refused_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    assert nudge_supervisor(settings_for(refused_port)) is False
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("host", ["no-such-host.invalid", "bad host\x00"])
def test_nudge_to_a_bad_host_is_false(host: str) -> None:
    assert nudge_supervisor(settings_for(9, host=host), timeout=0.5) is False


def test_nudge_does_nothing_when_the_port_is_unknown_or_the_api_off(server: OpsServer,
                                                                   view: FakeView) -> None:
    assert nudge_supervisor(settings_for(0)) is False
    assert nudge_supervisor(settings_for(server.port, enabled=False)) is False
    assert not view.nudged.is_set()


def test_nudge_of_a_stalled_supervisor_gives_up_after_its_timeout(
    server: OpsServer, view: FakeView
) -> None:
    view.stall.set()
    assert nudge_supervisor(settings_for(server.port), timeout=0.1) is False


def test_nudge_of_something_else_on_the_port_is_false() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        # Accepted by the kernel, never answered: the timeout ends it.
        assert nudge_supervisor(settings_for(port), timeout=0.1) is False
