"""Requests and responses of the ops API as values, and the helpers every route module shares.

Every non-2xx answer is `{"error": "..."}`. Kept apart from routes.py so that route modules
(page.py, runlog.py, deployments.py …) and the router can all import it without a cycle.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from supervisor.ops.auth import BearerAuth

JSON = "application/json"


@dataclass(frozen=True)
class Request:
    method: str
    target: str
    """The request target as sent: path and optional query."""
    authorization: str | None = None
    """The Authorization header, the only one a route checks."""
    body: bytes = b""
    accept: str = ""
    """The Accept header: `GET /` answers a browser with the dashboard, anyone else with JSON."""

    def query(self, name: str) -> str | None:
        """The last value of a query parameter, or None when it is absent."""
        values = parse_qs(self.target.partition("?")[2], keep_blank_values=True).get(name)
        return values[-1] if values else None


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


def shown(text: str) -> str:
    """User input echoed in an error, cut short."""
    return repr(text if len(text) <= 80 else text[:77] + "...")


def authorized(auth: BearerAuth, request: Request) -> Response | None:
    """None when the request carries the token; else the 401/403 answer."""
    denied = auth.check(request.authorization)
    if denied is None:
        return None
    extra = (("WWW-Authenticate", 'Bearer realm="supervisor"'),) if denied.status == 401 else ()
    return error(denied.status, denied.error, extra)


def run_id_of(params: dict[str, str]) -> uuid.UUID | Response:
    """The `{id}` of the path as a UUID, or the 400 answer."""
    text = params["id"]
    try:
        return uuid.UUID(text)
    except ValueError:
        return error(400, f"not a run id: {shown(text)} (expected a UUID)")
