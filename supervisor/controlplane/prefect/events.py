"""The fast path on a 3.x server: its events websocket (`/events/out`).

A cancel from the Prefect UI emits `prefect.flow-run.Cancelling` at once, and a run made by the
API or the UI emits `prefect.flow-run.Scheduled`: the first ends the run's tree, the second
nudges the schedule poller (at most once per NUDGE_GAP, and once more after a burst). Polling
stays the safety net (events can be missed while the socket is down). A dropped socket is
reconnected with capped backoff, logged once per outage. One daemon thread.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from supervisor.backoff import Backoff

logger = logging.getLogger("supervisor.prefect.events")

EVENT = "prefect.flow-run.Cancelling"
SCHEDULED = "prefect.flow-run.Scheduled"
RESOURCE_PREFIX = "prefect.flow-run."
RECEIVE_SLICE = 1.0  # s: how often the thread looks at its stop flag
NUDGE_GAP = 0.1  # s: the server's scheduler makes runs by the hundred; one poll reads them all


def _ws_url(api_url: str) -> str:
    scheme, rest = api_url.split("://", 1)
    return f"{'wss' if scheme == 'https' else 'ws'}://{rest.rstrip('/')}/events/out"


class CancelEvents:
    """`start(on_cancel, on_scheduled)` calls `on_cancel(run_id)` for every Cancelling event
    from now on, and `on_scheduled()` after Scheduled events (throttled)."""

    def __init__(self, api_url: str, token: str | None = None) -> None:
        self.url = _ws_url(api_url)
        self._token = token
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._backoff = Backoff(f"the events websocket {self.url}", logger, initial=0.5, cap=30.0)
        self.connected = threading.Event()

    def start(self, on_cancel: Callable[[uuid.UUID], None],
              on_scheduled: Callable[[], None] | None = None) -> None:
        self._nudge = _Throttled(on_scheduled or (lambda: None), NUDGE_GAP)
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
                "event": {"name": [EVENT, SCHEDULED]},
            }}))
            self.connected.set()
            self._backoff.succeeded()
            while not self._stop.is_set():
                try:
                    text = socket.recv(timeout=self._nudge.wait(RECEIVE_SLICE))
                except TimeoutError:
                    self._nudge.flush()
                    continue
                except ConnectionClosedOK:
                    raise ConnectionError("the server closed the events websocket") from None
                name, run_id = _flow_run_event(text)
                if name == EVENT and run_id is not None:
                    on_cancel(run_id)
                elif name == SCHEDULED:
                    self._nudge()


class _Throttled:
    """Calls `action` at once, then at most once per `gap` s; calls asked for within a gap are
    coalesced into one call at its end (`flush`, from the receive loop's timeout)."""

    def __init__(self, action: Callable[[], None], gap: float) -> None:
        self._action, self._gap = action, gap
        self._last = float("-inf")
        self._owed = False

    def __call__(self) -> None:
        if time.monotonic() - self._last >= self._gap:
            self._fire()
        else:
            self._owed = True

    def wait(self, longest: float) -> float:
        """How long the receive loop may block: until the owed call is due, else `longest`."""
        if not self._owed:
            return longest
        return max(0.0, min(longest, self._last + self._gap - time.monotonic()))

    def flush(self) -> None:
        if self._owed and time.monotonic() - self._last >= self._gap:
            self._fire()

    def _fire(self) -> None:
        self._owed = False
        self._last = time.monotonic()
        self._action()


def _flow_run_event(text: str | bytes) -> tuple[str | None, uuid.UUID | None]:
    """(event name, flow run id) of a flow-run event; (None, None) for anything else."""
    try:
        message = json.loads(text)
        event = message["event"]
        resource = event["resource"]["prefect.resource.id"]
    except (ValueError, KeyError, TypeError):
        return None, None
    if not isinstance(resource, str) or not resource.startswith(RESOURCE_PREFIX):
        return None, None
    try:
        return event.get("event"), uuid.UUID(resource.removeprefix(RESOURCE_PREFIX))
    except ValueError:
        return None, None
