"""The routes onto the control plane's records: deployments, recent runs, and the actions on
deployments (run now, pause, resume), which need the token like cancel does."""

from __future__ import annotations

from typing import TYPE_CHECKING

from supervisor.models import StateType
from supervisor.ops.responses import Request, Response, authorized, error, json_response, shown

if TYPE_CHECKING:
    from supervisor.ops.routes import Router

HISTORY_LIMIT = 50
MAX_HISTORY_LIMIT = 500


def listing(router: Router, request: Request, params: dict[str, str]) -> Response:
    return json_response(200, router.call(router.view.deployments, "deployments"))


def history(router: Router, request: Request, params: dict[str, str]) -> Response:
    """`GET /history?deployment=NAME&state=TYPE&limit=N`: runs newest first."""
    deployment = request.query("deployment") or None
    state_text = request.query("state") or None
    state = None
    if state_text is not None:
        try:
            state = StateType(state_text.upper())
        except ValueError:
            known = ", ".join(StateType)
            return error(400, f"bad state: {shown(state_text)} (one of {known})")
    limit_text = request.query("limit")
    limit = HISTORY_LIMIT
    if limit_text is not None:
        if not (limit_text.isascii() and limit_text.isdigit()) or not (
            1 <= int(limit_text) <= MAX_HISTORY_LIMIT
        ):
            return error(400, f"bad limit: {shown(limit_text)} (1 to {MAX_HISTORY_LIMIT})")
        limit = int(limit_text)
    found = router.call(lambda: router.view.recent_runs(deployment, state, limit), "history")
    return json_response(200, found)


def run_now(router: Router, request: Request, params: dict[str, str]) -> Response:
    denied = authorized(router.auth, request)
    if denied is not None:
        return denied
    name = params["name"]
    return json_response(201, router.call(lambda: router.view.run_now(name), "run now"))


def pause(router: Router, request: Request, params: dict[str, str]) -> Response:
    return _set_paused(router, request, params["name"], True)


def resume(router: Router, request: Request, params: dict[str, str]) -> Response:
    return _set_paused(router, request, params["name"], False)


def _set_paused(router: Router, request: Request, name: str, paused: bool) -> Response:
    denied = authorized(router.auth, request)
    if denied is not None:
        return denied
    what = "pause" if paused else "resume"
    return json_response(200, router.call(lambda: router.view.set_paused(name, paused), what))
