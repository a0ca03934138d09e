"""The fast path for cancels on a 3.x server: its events websocket (`/events/out`).

A cancel from the Prefect UI emits `prefect.flow-run.Cancelling` at once; polling
`/flow_runs/filter` stays the safety net (events can be missed while the socket is down). A
dropped socket is reconnected with capped backoff, logged once per outage. One daemon thread.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from supervisor.backoff import Backoff

logger = logging.getLogger("supervisor.prefect.events")

EVENT = "prefect.flow-run.Cancelling"
RESOURCE_PREFIX = "prefect.flow-run."
RECEIVE_SLICE = 1.0  # s: how often the thread looks at its stop flag


def _ws_url(api_url: str) -> str:
    scheme, rest = api_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/events/out"


class CancelEvents:
    """`start(on_cancel)` calls `on_cancel(run_id)` for every Cancelling event from now on."""

    def __init__(self, api_url: str, token: str | None = None) -> None:
        self.url = _ws_url(api_url)
        self._token = token
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(f"the events websocket {self.url}", logger, initial=0.5, cap=30.0)
        self.connected = threading.Event()

    def start(self, on_cancel: Callable[[uuid.UUID], None]) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(on_cancel,), name="prefect-events", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _loop(self, on_cancel: Callable[[uuid.UUID], None]) -> None:
        while not self._stop.is_set():
            try:
                self._listen(on_cancel)
            except Exception as exc:  # any socket or protocol fault: reconnect later
                self.connected.clear()
                self._stop.wait(self._backoff.failed(exc))

    def _listen(self, on_cancel: Callable[[uuid.UUID], None]) -> None:
        from websockets.exceptions import ConnectionClosedOK
        from websockets.sync.client import connect

        with connect(self.url, subprotocols=["prefect"], open_timeout=10,  # type: ignore[list-item]
                     close_timeout=2) as socket:
            socket.send(json.dumps({"type": "auth", "token": self._token}))
            answer = json.loads(socket.recv(timeout=10))
            if answer.get("type") != "auth_success":
                raise ConnectionError(f"the events websocket refused us: {answer}")
            now = datetime.now(UTC)
            socket.send(json.dumps({"type": "filter", "backfill": False, "filter": {
                "occurred": {"since": (now - timedelta(minutes=1)).isoformat(),
                             "until": (now + timedelta(days=3650)).isoformat()},
                "event": {"name": [EVENT]},
            }}))
            self.connected.set()
            self._backoff.succeeded()
            while not self._stop.is_set():
                try:
                    text = socket.recv(timeout=RECEIVE_SLICE)
                except TimeoutError:
                    continue
                except ConnectionClosedOK:
                    raise ConnectionError("the server closed the events websocket") from None
                run_id = _cancelled_run(text)
                if run_id is not None:
                    on_cancel(run_id)


def _cancelled_run(text: str | bytes) -> uuid.UUID | None:
    try:
        message = json.loads(text)
        event = message["event"]
        resource = event["resource"]["prefect.resource.id"]
    except (ValueError, KeyError, TypeError):
        return None
    if event.get("event") != EVENT or not resource.startswith(RESOURCE_PREFIX):
        return None
    try:
        return uuid.UUID(resource.removeprefix(RESOURCE_PREFIX))
    except ValueError:
        return None
