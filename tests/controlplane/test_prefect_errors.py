"""What the `prefect` adapter says when the server is not one it can use, on a real HTTP socket.

A stdlib HTTP server plays the odd servers (an old version, a bad key, a flaky proxy); the
adapter's behaviour on real Prefect servers is in tests/prefect/.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from supervisor.controlplane.prefect import PrefectControlPlane
from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable
from supervisor.settings import ControlPlaneSection

Answer = Callable[[str, str, dict[str, str]], tuple[int, object, dict[str, str]]]


@pytest.fixture
def server() -> Iterator[Callable[[Answer], str]]:
    """`server(answer)` serves `answer(method, path, headers)` and returns the API URL."""
    started: list[ThreadingHTTPServer] = []

    def serve(answer: Answer) -> str:
        class Handler(BaseHTTPRequestHandler):
            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                status, body, headers = answer(self.command, self.path, dict(self.headers))
                data = json.dumps(body).encode()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PATCH = _reply

            def log_message(self, *args: object) -> None:
                pass

        httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        started.append(httpd)
        return f"http://127.0.0.1:{httpd.server_address[1]}/api"

    yield serve
    for httpd in started:
        httpd.shutdown()
        httpd.server_close()


def plane(url: str, tmp_path: Path, **env: str) -> PrefectControlPlane:
    section = ControlPlaneSection(kind="prefect", api_url=url, journal=tmp_path / "j.db",
                                 api_key_env="KEY" if "KEY" in env else None,
                                 auth_string_env="AUTH" if "AUTH" in env else None)
    return PrefectControlPlane(section, environment=env)


def version(v: str) -> Answer:
    return lambda method, path, headers: (200, v, {})


def test_an_unsupported_server_version_is_refused_by_name(server, tmp_path):
    url = server(version("1.4.2"))
    with pytest.raises(ControlPlaneError, match=r"version 1\.4\.2; supported: 2\.x .* and 3\.x"):
        plane(url, tmp_path)


def test_a_url_that_is_not_the_api_says_where_the_api_usually_is(server, tmp_path):
    url = server(lambda m, p, h: (404, {"detail": "Not Found"}, {}))
    with pytest.raises(ControlPlaneError, match=r"not a Prefect API.*ends in /api"):
        plane(url, tmp_path)


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_key_is_not_retried_and_says_which_settings(server, tmp_path, status):
    calls: list[str] = []

    def answer(method: str, path: str, headers: dict[str, str]):
        calls.append(headers.get("Authorization", ""))
        return status, {"detail": "Unauthorized"}, {}

    url = server(answer)
    with pytest.raises(ControlPlaneError, match=f"refused the credentials \\(HTTP {status}\\)"
                       ) as caught:
        plane(url, tmp_path, KEY="sekrit")
    assert not isinstance(caught.value, ControlPlaneUnavailable)
    assert calls == ["Bearer sekrit"]  # sent as Prefect Cloud expects, and asked once


def test_auth_string_is_sent_as_basic_auth(server, tmp_path):
    seen: list[str] = []

    def answer(method: str, path: str, headers: dict[str, str]):
        seen.append(headers.get("Authorization", ""))
        return 200, "3.4.25", {}

    plane(server(answer), tmp_path, AUTH="admin:pass").close()
    assert seen == ["Basic YWRtaW46cGFzcw=="]


def test_503s_are_retried_honouring_retry_after_then_succeed(server, tmp_path):
    answers = iter([(503, {"exception_message": "Service Unavailable"}, {"Retry-After": "0.2"}),
                    (429, {"detail": "slow down"}, {"Retry-After": "0"}),
                    (200, "2.19.9", {})])
    url = server(lambda m, p, h: next(answers))
    found = plane(url, tmp_path)
    assert found.version == "2.19.9"
    found.close()


def test_a_server_that_keeps_failing_is_unavailable_not_an_error(server, tmp_path):
    url = server(lambda m, p, h: (502, {"detail": "bad gateway"}, {}))
    with pytest.raises(ControlPlaneUnavailable, match="502"):
        plane(url, tmp_path)


def test_a_call_after_close_is_unavailable_not_a_runtime_error(server, tmp_path):
    # An actor still retrying when the system closed the plane must meet an error it handles
    found = plane(server(version("3.4.25")), tmp_path)
    found.close()
    with pytest.raises(ControlPlaneUnavailable, match="closed"):
        found.read_run(uuid.uuid4())


def test_cli_against_an_unreachable_server_is_one_line_and_exit_1(tmp_path):
    config = tmp_path / "supervisor.toml"
    config.write_text('[control_plane]\nkind = "prefect"\napi_url = "http://127.0.0.1:9/api"\n'
                      'timeout = 2\n')
    done = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(config), "runs"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        "runs: cannot reach Prefect at http://127.0.0.1:9/api: [Errno 111] Connection refused"]


def test_prefect_without_an_api_url_is_a_config_error_naming_the_field(tmp_path):
    config = tmp_path / "supervisor.toml"
    config.write_text('[control_plane]\nkind = "prefect"\n')
    env = {k: v for k, v in __import__("os").environ.items() if k != "PREFECT_API_URL"}
    done = subprocess.run([sys.executable, "-m", "supervisor", "--config", str(config), "runs"],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 2
    assert "control_plane: api_url: required when kind = \"prefect\"" in done.stderr
