"""Keep secrets out of every string the storage layer lets go of (logs, errors, board, run state).

Two kinds of secret: the token read from `token_env` (and the `Authorization` header value made
from it), and the userinfo of a URL (`https://user:pass@host`). `Redactor` knows the first kind
by value; `redact_urls` strips the second kind by shape, whatever the value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MASK = "***"

# scheme://userinfo@ — userinfo has no '/', '@' or whitespace.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/@\s'\"]+@")


def redact_urls(text: str) -> str:
    """`https://user:pass@host/x` → `https://***@host/x` (any scheme)."""
    return _URL_USERINFO.sub(lambda m: f"{m.group('scheme')}{MASK}@", text)


class Redactor:
    """Replaces known secret values (and URL userinfo) in text; cheap to call on every line."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret containing another is masked whole. Very short values are
        # ignored: masking every "a" would mangle messages without protecting anything.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def with_secrets(self, *secrets: str) -> Redactor:
        return Redactor([*self._secrets, *secrets])

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return redact_urls(text)
