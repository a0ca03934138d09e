"""Bearer-token check for the routes that change things (cancel, shutdown).

No token configured → those routes are off: 403 with a JSON error saying so (not 404, so a
caller learns why, and the paths stay discoverable). Missing or malformed header → 401 with
`WWW-Authenticate: Bearer`; a wrong token → 403. Tokens are compared in constant time.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass


@dataclass(frozen=True)
class Denied:
    status: int
    error: str


class BearerAuth:
    def __init__(self, token: str | None) -> None:
        # An empty string is no token: it would let `Bearer ` through.
        self._token = token.encode() if token else None

    @property
    def configured(self) -> bool:
        return self._token is not None

    def check(self, header: str | None) -> Denied | None:
        """None when `header` carries the token; else why not."""
        if self._token is None:
            return Denied(403, "this route is off: the supervisor has no ops token configured "
                          "(set the variable named by [ops] token_env before starting it)")
        if not header:
            return Denied(401, "missing Authorization: Bearer <token>")
        scheme, _, credentials = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not credentials.strip():
            return Denied(401, "malformed Authorization header: expected 'Bearer <token>'")
        # http.server decodes header bytes as latin-1: encode back to compare the raw bytes.
        given = credentials.strip().encode("latin-1", "replace")
        if not hmac.compare_digest(given, self._token):
            return Denied(403, "wrong token")
        return None
