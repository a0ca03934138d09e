"""The endpoints of the ops API: a method and a path → a handler → a JSON response.

HTTP plumbing (sockets, body limits, keep-alive) lives in server.py; this module only maps
requests to calls on the `SystemView` and errors to status codes, so every non-2xx answer is
`{"error": "..."}`. Every view call goes through the guard: a slow system costs a 503.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

import pykka

from supervisor.errors import (
    ControlPlaneUnavailable,
    DeploymentNotFound,
    RunNotFound,
    SupervisorError,
)
from supervisor.ops import deployments, page, runlog
from supervisor.ops.auth import BearerAuth
from supervisor.ops.guard import Busy, Guard
from supervisor.ops.responses import (
    JSON,
    Request,
    Response,
    authorized,
    error,
    json_response,
    run_id_of,
    shown,
)
from supervisor.ops.view import SystemView

__all__ = ["JSON", "Request", "Response", "Router", "error"]

logger = logging.getLogger("supervisor.ops")

METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"
CANCELLED_BY = "ops API"


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
                    405, f"{request.method} is not allowed on {shown(path)} (allowed: {allowed})",
                    (("Allow", allowed),),
                )
            return self._safely(handler, request, match.groupdict())
        return error(404, f"no such endpoint: {shown(path)} (see GET / for the list)")

    def _safely(self, handler: Handler, request: Request, params: dict[str, str]) -> Response:
        try:
            return handler(self, request, params)
        except (Busy, TimeoutError, pykka.Timeout, ControlPlaneUnavailable) as exc:
            return error(503, f"supervisor busy or unavailable: {exc}", (("Retry-After", "1"),))
        except RunNotFound as exc:
            return error(404, str(exc) or "no such run")
        except DeploymentNotFound as exc:
            return error(404, str(exc) or "no such deployment")
        except SupervisorError as exc:  # a known failure (not running, bad database): not a bug
            logger.warning("ops API: %s %s: %s", request.method, request.target, exc)
            return error(503, f"{type(exc).__name__}: {exc}")
        except Exception as exc:
            logger.exception("ops API: %s %s failed", request.method, request.target)
            return error(500, f"internal error: {type(exc).__name__}: {exc}")

    def call(self, fn: Callable[[], Any], what: str) -> Any:
        return self.guard.call(fn, what)


def index(router: Router, request: Request, params: dict[str, str]) -> Response:
    """A browser gets the dashboard; a script gets the list of endpoints."""
    if page.wants_page(request):
        return page.asset("/")
    endpoints = [f"{m} {p}" for p, ms in ENDPOINTS for m in ms]
    actions = "token" if router.auth.configured else "off"
    return json_response(
        200, {"name": router.view.name, "endpoints": endpoints, "actions": actions},
        (("Vary", "Accept"),),
    )


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
    run_id = run_id_of(params)
    if isinstance(run_id, Response):
        return run_id
    found = router.call(lambda: router.view.run_in_flight(run_id), "run")
    if found is None:
        return error(404, f"run {run_id} is not in flight on supervisor {router.view.name!r}")
    return json_response(200, found)


def metrics(router: Router, request: Request, params: dict[str, str]) -> Response:
    return Response(200, router.call(router.view.metrics.render, "metrics"), METRICS_TYPE)


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
    denied = authorized(router.auth, request)
    if denied is not None:
        return denied
    run_id = run_id_of(params)
    if isinstance(run_id, Response):
        return run_id
    by = _cancelled_by(request.body)
    if isinstance(by, Response):
        return by
    return json_response(202, router.call(lambda: router.view.cancel_run(run_id, by), "cancel"))


def retry(router: Router, request: Request, params: dict[str, str]) -> Response:
    """A finished run again (the CLI's `retry RUN_ID`); 409 for a run that has not ended."""
    from supervisor.policies.retry import RunNotFinished

    denied = authorized(router.auth, request)
    if denied is not None:
        return denied
    run_id = run_id_of(params)
    if isinstance(run_id, Response):
        return run_id
    by = _cancelled_by(request.body)
    if isinstance(by, Response):
        return by
    try:
        found = router.call(lambda: router.view.retry_run(run_id, by), "retry")
    except RunNotFinished as exc:
        return error(409, str(exc))
    return json_response(202, found)


def shutdown(router: Router, request: Request, params: dict[str, str]) -> Response:
    denied = authorized(router.auth, request)
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
    ("/runs/{id}/retry", {"POST": retry}),
    ("/runs/{id}/log", {"GET": runlog.run_log}),
    ("/history", {"GET": deployments.history}),
    ("/deployments", {"GET": deployments.listing}),
    ("/deployments/{name}/run", {"POST": deployments.run_now}),
    ("/deployments/{name}/pause", {"POST": deployments.pause}),
    ("/deployments/{name}/resume", {"POST": deployments.resume}),
    ("/metrics", {"GET": metrics}),
    ("/shutdown", {"POST": shutdown}),
    ("/nudge", {"POST": nudge}),
    ("/dashboard.js", {"GET": page.static("/dashboard.js")}),
    ("/dashboard.css", {"GET": page.static("/dashboard.css")}),
    ("/favicon.svg", {"GET": page.static("/favicon.svg")}),
)
ROUTES = tuple(
    (re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path))), methods)
    for path, methods in ENDPOINTS
)
