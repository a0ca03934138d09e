"""The dashboard: one HTML page, its script and its stylesheet, served from package data.

No build step and no CDN (machines may be offline): plain files in `static/`, read once. The page
is static; its script polls the JSON endpoints. A strict Content-Security-Policy allows only this
origin's script and stylesheet and no inline code, so even a value that slipped into the page as
markup could not run (the script never builds markup from data in the first place).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources

from supervisor.ops.responses import Request, Response

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = (
    ("Content-Security-Policy", CSP),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
)
ASSETS = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
    "/favicon.svg": ("favicon.svg", "image/svg+xml"),
}


def wants_page(request: Request) -> bool:
    """A browser navigating to `/` asks for HTML; curl, httpx and scripts do not."""
    return "text/html" in request.accept


@functools.cache
def _read(name: str) -> bytes:
    return resources.files(__package__).joinpath("static", name).read_bytes()


def asset(path: str) -> Response:
    name, content_type = ASSETS[path]
    headers = PAGE_HEADERS + ((("Vary", "Accept"),) if path == "/" else ())
    return Response(200, _read(name), content_type, headers)


def static(path: str) -> Callable[[object, Request, dict[str, str]], Response]:
    """The route handler of one asset."""
    if path not in ASSETS:
        raise KeyError(path)
    return lambda router, request, params: asset(path)
