"""The endpoints of the ops API: a method and a path → a handler → a JSON response.

HTTP plumbing (sockets, body limits, keep-alive) lives in server.py; this module only maps
requests to calls on the `SystemView` and errors to status codes, so every non-2xx answer is
`{"error": "..."}`. Every view call goes through the guard: a slow system costs a 503.
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import unquote

import pykka

from supervisor.errors import ControlPlaneUnavailable, RunNotFound, SupervisorError
from supervisor.ops.auth import BearerAuth
from supervisor.ops.guard import Busy, Guard
from supervisor.ops.view import SystemView

logger = logging.getLogger("supervisor.ops")

JSON = "application/json"
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CANCELLED_BY = "ops API"


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    """The request target as sent: path and optional query."""
    authorization: str | None = None
    """The Authorization header, the only one a route reads."""
    body: bytes = b""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = JSON
    headers: tuple[tuple[str, str], ...] = ()


def _jsonable(value: Any) -> Any:
    """What the view hands over unconverted (a datetime, a UUID, a Path) is shown, not a 500."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def json_response(status: int, data: Any, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, json.dumps(data, default=_jsonable).encode() + b"\n", JSON, headers)


def error(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return json_response(status, {"error": message}, headers)


def _shown(text: str) -> str:
    """User input echoed in an error, cut short."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


Handler = Callable[["Router", Request, dict[str, str]], Response]


class Router:
    """Dispatches requests; never raises (a bug in a handler becomes a logged 500)."""

    def __init__(self, view: SystemView, auth: BearerAuth, guard: Guard) -> None:
        self.view = view
        self.auth = auth
        self.guard = guard

    def handle(self, request: Request) -> Response:
        path = unquote(request.target.split("?", 1)[0])
        if len(path) > 1 and path.endswith("/"):
            path = path[:-1]
        for pattern, methods in ROUTES:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            handler = methods.get(request.method)
            if handler is None:
                allowed = ", ".join(sorted(methods))
                return error(
                    405, f"{request.method} is not allowed on {_shown(path)} (allowed: {allowed})",
                    (("Allow", allowed),),
                )
            return self._safely(handler, request, match.groupdict())
        return error(404, f"no such endpoint: {_shown(path)} (see GET / for the list)")

    def _safely(self, handler: Handler, request: Request, params: dict[str, str]) -> Response:
        try:
            return handler(self, request, params)
        except (Busy, TimeoutError, pykka.Timeout, ControlPlaneUnavailable) as exc:
            return error(503, f"supervisor busy or unavailable: {exc}", (("Retry-After", "1"),))
        except RunNotFound as exc:
            return error(404, str(exc) or "no such run")
        except SupervisorError as exc:  # a known failure (not running, bad database): not a bug
            logger.warning("ops API: %s %s: %s", request.method, request.target, exc)
            return error(503, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            logger.exception("ops API: %s %s failed", request.method, request.target)
            return error(500, f"internal error: {type(exc).__name__}: {exc}")

    def call(self, fn: Callable[[], Any], what: str) -> Any:
        return self.guard.call(fn, what)


def _run_id(params: dict[str, str]) -> uuid.UUID | Response:
    text = params["id"]
    try:
        return uuid.UUID(text)
    except ValueError:
        return error(400, f"not a run id: {_shown(text)} (expected a UUID)")


def index(router: Router, request: Request, params: dict[str, str]) -> Response:
    endpoints = [f"{m} {p}" for p, ms in ENDPOINTS for m in ms]
    return json_response(200, {"name": router.view.name, "endpoints": endpoints})


def health(router: Router, request: Request, params: dict[str, str]) -> Response:
    ok, reason = router.call(router.view.health, "health")
    body = {"status": "ok" if ok else "unhealthy", "name": router.view.name, "reason": reason}
    if ok:
        return json_response(200, body)
    return json_response(503, {**body, "error": f"unhealthy: {reason}"})


def actors(router: Router, request: Request, params: dict[str, str]) -> Response:
    return json_response(200, router.call(router.view.actor_states, "actors"))


def runs(router: Router, request: Request, params: dict[str, str]) -> Response:
    return json_response(200, router.call(router.view.runs_in_flight, "runs"))


def run(router: Router, request: Request, params: dict[str, str]) -> Response:
    run_id = _run_id(params)
    if isinstance(run_id, Response):
        return run_id
    found = router.call(lambda: router.view.run_in_flight(run_id), "run")
    if found is None:
        return error(404, f"run {run_id} is not in flight on supervisor {router.view.name!r}")
    return json_response(200, found)


def metrics(router: Router, request: Request, params: dict[str, str]) -> Response:
    return Response(200, router.call(router.view.metrics.render, "metrics"), METRICS_TYPE)


def _authorized(router: Router, request: Request) -> Response | None:
    denied = router.auth.check(request.authorization)
    if denied is None:
        return None
    extra = (("WWW-Authenticate", 'Bearer realm="supervisor"'),) if denied.status == 401 else ()
    return error(denied.status, denied.error, extra)


def _text(value: Any) -> bool:
    """One printable line: JSON lets a lone surrogate ("\\ud800") or a newline through, and a
    state message cannot store the first (SQLite refuses it) nor show the second."""
    return isinstance(value, str) and value.isprintable()


def _cancelled_by(body: bytes) -> str | Response:
    if not body.strip():
        return CANCELLED_BY
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: nested too deep
        return error(400, 'body must be empty or a JSON object like {"by": "alice"}')
    by = data.get("by") if isinstance(data, dict) else None
    if not isinstance(data, dict) or (by is not None and not _text(by)):
        return error(400, 'body must be empty or a JSON object like {"by": "alice"}')
    return f"{CANCELLED_BY} ({by[:100]})" if by else CANCELLED_BY


def cancel(router: Router, request: Request, params: dict[str, str]) -> Response:
    denied = _authorized(router, request)
    if denied is not None:
        return denied
    run_id = _run_id(params)
    if isinstance(run_id, Response):
        return run_id
    by = _cancelled_by(request.body)
    if isinstance(by, Response):
        return by
    return json_response(202, router.call(lambda: router.view.cancel_run(run_id, by), "cancel"))


def shutdown(router: Router, request: Request, params: dict[str, str]) -> Response:
    denied = _authorized(router, request)
    if denied is not None:
        return denied
    router.call(router.view.shutdown, "shutdown")
    return json_response(202, {"status": "stopping", "name": router.view.name})


def nudge(router: Router, request: Request, params: dict[str, str]) -> Response:
    router.call(router.view.nudge, "nudge")
    return json_response(202, {"status": "nudged", "name": router.view.name})


ENDPOINTS: tuple[tuple[str, dict[str, Handler]], ...] = (
    ("/", {"GET": index}),
    ("/health", {"GET": health}),
    ("/actors", {"GET": actors}),
    ("/runs", {"GET": runs}),
    ("/runs/{id}", {"GET": run}),
    ("/runs/{id}/cancel", {"POST": cancel}),
    ("/metrics", {"GET": metrics}),
    ("/shutdown", {"POST": shutdown}),
    ("/nudge", {"POST": nudge}),
)
ROUTES = tuple(
    (re.compile(re.escape(path).replace(re.escape("{id}"), "(?P<id>[^/]+)")), methods)
    for path, methods in ENDPOINTS
)
