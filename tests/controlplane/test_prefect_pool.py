"""Worker mode's view of a work pool (`prefect/pool.py`) against an httpx.MockTransport playing
the server; the real servers are in tests/prefect/test_worker.py."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from supervisor.controlplane.prefect.http import PrefectHTTP
from supervisor.controlplane.prefect.pool import WorkPool
from supervisor.errors import ControlPlaneError
from supervisor.settings import ControlPlaneSection

NOW = datetime(2026, 1, 1, tzinfo=UTC)


class FakeServer:
    def __init__(self, pool: dict[str, Any] | None, queues: list[dict[str, Any]]) -> None:
        self.pool, self.queues = pool, queues
        self.calls: list[tuple[str, str, Any]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path.removeprefix("/api/")
        body = json.loads(request.content) if request.content else None
        self.calls.append((request.method, path, body))
        if path == "work_pools/edge" and request.method == "GET":
            return httpx.Response(200, json=self.pool) if self.pool else httpx.Response(404)
        if path == "work_pools/":
            self.pool = {"name": "edge", **body}
            return httpx.Response(201, json=self.pool)
        if path == "work_pools/edge/queues":
            return httpx.Response(409, json={"detail": "exists"})
        if path == "work_pools/edge/queues/filter":
            return httpx.Response(200, json=self.queues)
        if path.endswith("get_scheduled_flow_runs"):
            return httpx.Response(200, json=[{"flow_run": {"id": "r1"}}])
        return httpx.Response(204)

    def polled_with(self) -> list[Any]:
        return [b for _, p, b in self.calls if p.endswith("get_scheduled_flow_runs")]


def pool_on(server: FakeServer, clock: list[float], **keys: Any) -> WorkPool:
    section = ControlPlaneSection(kind="prefect", api_url="http://x/api", work_pool="edge",
                                  **keys)
    http = PrefectHTTP("http://x/api", timeout=1, transport=httpx.MockTransport(server))
    return WorkPool(http, section, "edge@host", monotonic=lambda: clock[0])


def test_a_missing_pool_is_made_as_a_process_pool() -> None:
    server = FakeServer(None, [])
    pool_on(server, [0.0]).ensure()
    assert ("POST", "work_pools/", {"name": "edge", "type": "process"}) in server.calls


def test_a_pool_of_another_type_is_refused_by_name() -> None:
    server = FakeServer({"name": "edge", "type": "kubernetes"}, [])
    with pytest.raises(ControlPlaneError, match="work pool 'edge' is of type 'kubernetes'"):
        pool_on(server, [0.0]).ensure()


def test_named_and_prefixed_queues_are_polled_and_rematched_on_time(
        caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer({"name": "edge", "type": "process"}, [
        {"name": "high", "priority": 1}, {"name": "etl-a", "priority": 2},
        {"name": "etl-b", "priority": 3, "is_paused": True}, {"name": "other", "priority": 4}])
    clock = [0.0]
    pool = pool_on(server, clock, work_queues=["high"], work_queue_prefix=["etl-"],
                   queue_rematch_interval=30)
    with caplog.at_level(logging.INFO, logger="supervisor.prefect"):
        assert [r["id"] for r in pool.read(NOW, 10)] == ["r1"]
        server.queues.append({"name": "etl-c", "priority": 5})
        clock[0] = 29.0
        pool.read(NOW, 10)  # not yet re-matched
        clock[0] = 30.0
        pool.read(NOW, 10)
    names = [b["work_queue_names"] for b in server.polled_with()]
    assert names == [["high", "etl-a"], ["high", "etl-a"], ["high", "etl-a", "etl-c"]]
    paused = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
    assert paused == ["queue 'etl-b' of 'edge' is paused: its runs are not taken"]
    beats = [b for _, p, b in server.calls if p.endswith("heartbeat")]
    assert beats == [{"name": "edge@host", "heartbeat_interval_seconds": 30}] * 2


def test_a_paused_pool_is_not_polled_and_said_once(caplog: pytest.LogCaptureFixture) -> None:
    server = FakeServer({"name": "edge", "type": "process", "is_paused": True}, [])
    clock = [0.0]
    pool = pool_on(server, clock, queue_rematch_interval=1)
    with caplog.at_level(logging.INFO, logger="supervisor.prefect"):
        for moment in (0.0, 1.0, 2.0):
            clock[0] = moment
            assert pool.read(NOW, 10) == []
        server.pool = {"name": "edge", "type": "process"}
        clock[0] = 3.0
        assert pool.read(NOW, 10) != []
    said = [r.getMessage() for r in caplog.records if "paused" in r.getMessage()]
    assert said == ["work pool 'edge' is paused: its runs are not taken",
                    "work pool 'edge' is no longer paused"]
    assert "work_queue_names" not in server.polled_with()[0]  # every queue of the pool
