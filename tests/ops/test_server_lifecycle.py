"""OpsServer start/stop: a taken port is a clear OpsError; stop is prompt and complete."""

from __future__ import annotations

import socket
import struct
import threading

import httpx
import pytest

from supervisor.errors import OpsError
from supervisor.ops.server import OpsServer
from tests.ops.fakes import FakeView
from tests.waiting import wait_until


def test_a_taken_port_is_a_clear_ops_error(server: OpsServer, view: FakeView) -> None:
    second = OpsServer(view, "127.0.0.1", server.port, None)
    with pytest.raises(OpsError, match=rf"127\.0\.0\.1:{server.port}: .*in use"):
        second.start()
    assert httpx.get(server.url + "/health", trust_env=False).status_code == 200


def test_an_unknown_host_is_a_clear_ops_error(view: FakeView) -> None:
    with pytest.raises(OpsError, match=r"cannot serve the ops API on no-such-host\.invalid:0"):
        OpsServer(view, "no-such-host.invalid", 0, None).start()


def test_starting_twice_is_an_error(server: OpsServer) -> None:
    with pytest.raises(OpsError, match="already serving"):
        server.start()


def test_stop_is_idempotent_and_frees_the_port(view: FakeView) -> None:
    server = OpsServer(view, "127.0.0.1", 0, None)
    server.stop()  # never started: nothing to do
    server.start()
    port = server.port
    server.stop()
    server.stop()
    assert server.port == port
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health", trust_env=False)
    with OpsServer(view, "127.0.0.1", port, None) as again:  # the port is free again
        assert httpx.get(again.url + "/health", trust_env=False).status_code == 200


def test_stop_closes_kept_alive_connections(view: FakeView) -> None:
    server = OpsServer(view, "127.0.0.1", 0, None)
    server.start()
    idle = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    received = b""
    while not received.endswith(b"}\n"):  # the whole JSON answer; the connection stays open
        received += idle.recv(65536)
    assert b"Connection: close" not in received
    server.stop()
    assert idle.recv(65536) == b""  # the server closed it; not left to the idle timeout
    idle.close()


def test_stop_lets_a_request_in_progress_finish(view: FakeView) -> None:
    server = OpsServer(view, "127.0.0.1", 0, None, view_timeout=5)
    server.start()
    view.stall.set()
    answers: list[int] = []
    asking = threading.Thread(
        target=lambda: answers.append(httpx.get(server.url + "/runs", trust_env=False).status_code)
    )
    asking.start()
    wait_until(lambda: any(t.name == "ops-runs" for t in threading.enumerate()), timeout=5)
    stopping = threading.Thread(target=server.stop, kwargs={"grace": 5})
    stopping.start()
    view.release.set()
    stopping.join()
    asking.join()
    assert answers == [200]


def test_serves_on_ipv6_loopback_when_available(view: FakeView) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    server = OpsServer(view, "::1", 0, None)
    try:
        server.start()
    except OpsError:
        pytest.skip("IPv6 loopback not configured")
    try:
        assert server.url == f"http://[::1]:{server.port}"
        assert httpx.get(server.url + "/health", trust_env=False).status_code == 200
    finally:
        server.stop()


def test_connections_reset_at_once_do_not_wedge_the_server(view: FakeView) -> None:
    server = OpsServer(view, "127.0.0.1", 0, None)
    server.start()
    for _ in range(20):  # connect, then reset (SO_LINGER 0) before the server reads anything
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
    assert httpx.get(server.url + "/health", trust_env=False).status_code == 200
    stopping = threading.Thread(target=server.stop)
    stopping.start()
    stopping.join(10)
    assert not stopping.is_alive()


def test_a_burst_of_connections_is_queued_not_dropped(view: FakeView) -> None:
    """Bound but not accepting (the serving thread busy): 100 connects all complete at once.

    A listen backlog of 5 completes 6 and leaves the rest to SYN retries (~1 s each)."""
    from supervisor.ops.auth import BearerAuth
    from supervisor.ops.guard import Guard
    from supervisor.ops.routes import Router
    from supervisor.ops.transport import OpsHTTPServer

    router = Router(view, BearerAuth(None), Guard(2.0))
    server = OpsHTTPServer(("127.0.0.1", 0), socket.AF_INET, router, 1024)
    clients = []
    try:
        for _ in range(100):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.connect_ex(server.server_address)
            clients.append(sock)

        def connected() -> int:
            return sum(1 for s in clients if _is_connected(s))

        wait_until(lambda: connected() == 100, timeout=5, interval=0.01,
                   message="100 connections queued")
    finally:
        for sock in clients:
            sock.close()
        server.server_close()


def _is_connected(sock: socket.socket) -> bool:
    try:
        sock.getpeername()
    except OSError:
        return False
    return True
