"""The Prefect client's own limits, against an httpx.MockTransport (real servers: tests/prefect)."""

from __future__ import annotations

import threading

import httpx
import pytest

from supervisor.controlplane.prefect.http import PrefectHTTP
from supervisor.errors import ControlPlaneUnavailable
from tests.waiting import wait_until


@pytest.mark.parametrize("limit", [1, 2])
def test_no_more_requests_at_once_than_max_connections(limit: int) -> None:
    # Given a server that holds every request until told, and 4 threads calling at once
    lock, go = threading.Lock(), threading.Event()
    seen = {"now": 0, "most": 0}

    def server(request: httpx.Request) -> httpx.Response:
        with lock:
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        go.wait(10)
        with lock:
            seen["now"] -= 1
        return httpx.Response(200, json={"ok": True})

    http = PrefectHTTP("http://x/api", timeout=10, transport=httpx.MockTransport(server),
                       max_connections=limit)
    threads = [threading.Thread(target=http.call, args=("GET", "health")) for _ in range(4)]
    try:
        for thread in threads:
            thread.start()
        # When `limit` of them are inside the server
        wait_until(lambda: seen["now"] == limit, timeout=10, message=f"{limit} in flight")
        # Then no other gets in while they are (a bounded look: they would within milliseconds)
        with pytest.raises(AssertionError):
            wait_until(lambda: seen["now"] > limit, timeout=0.3)
    finally:
        go.set()
        for thread in threads:
            thread.join(10)
        http.close()
    assert seen["most"] == limit and seen["now"] == 0


def test_a_call_waiting_for_a_connection_when_the_plane_closes_is_unavailable() -> None:
    # Given one connection, held by a request the server keeps until told
    go, inside = threading.Event(), threading.Event()

    def server(request: httpx.Request) -> httpx.Response:
        inside.set()
        go.wait(10)
        return httpx.Response(200, json={"ok": True})

    http = PrefectHTTP("http://x/api", timeout=10, transport=httpx.MockTransport(server),
                       attempts=1)
    asked = threading.Semaphore(0)  # released as each call starts waiting for a connection
    slots = http._slots

    class Counted:
        def acquire(self, timeout: float) -> bool:
            asked.release()
            return slots.acquire(timeout=timeout)

        def release(self) -> None:
            slots.release()

    http._slots = Counted()  # type: ignore[assignment]
    first = threading.Thread(target=http.call, args=("GET", "health"))
    first.start()
    assert inside.wait(10)
    errors: list[BaseException] = []

    def second() -> None:
        try:
            http.call("GET", "health")
        except BaseException as exc:  # what a poller would see
            errors.append(exc)

    waiting = threading.Thread(target=second)
    waiting.start()
    assert asked.acquire(timeout=10) and asked.acquire(timeout=10)  # past the closed check
    try:
        # When the system closes the plane while the second call waits for the connection
        http.close()
    finally:
        go.set()
        first.join(10)
        waiting.join(10)
    # Then that call says the control plane is unavailable (not httpx's RuntimeError)
    assert len(errors) == 1 and isinstance(errors[0], ControlPlaneUnavailable), errors
    assert "closed" in str(errors[0])
