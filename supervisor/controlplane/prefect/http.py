"""One HTTP session with a Prefect server: auth, retries, Prefect's answers as the port's errors.

Retryable (ControlPlaneUnavailable): transport errors and timeouts, 408, 429 and 5xx (a SQLite
server answers 503 "database is locked" under bursts). Each call retries a few times with
tenacity (honouring `Retry-After`), then raises, so the caller's own backoff takes over: a call
never blocks an actor for long. 401/403 and other 4xx are not retried.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import tenacity

from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable

logger = logging.getLogger("supervisor.prefect")

RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})
ATTEMPTS = 4
MAX_RETRY_AFTER = 5.0  # s: a longer Retry-After is left to the caller's backoff


class NotFound(ControlPlaneError):
    """404: the caller says what was not found (a run, a deployment)."""


class Refused(ControlPlaneError):
    """A 4xx other than 401/403/404: the request itself is wrong (`detail` says how)."""

    def __init__(self, message: str, detail: str) -> None:
        super().__init__(message)
        self.detail = detail


class Retryable(ControlPlaneUnavailable):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def auth_headers(api_key: str | None, auth_string: str | None) -> dict[str, str]:
    """Prefect Cloud's bearer key, or a self-hosted 3.x server's basic auth string."""
    if api_key:
        return {"Authorization": f"Bearer {api_key}"}
    if auth_string:
        token = base64.b64encode(auth_string.encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    from datetime import UTC, datetime

    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        detail = body.get("exception_detail") or body.get("detail") or body.get(
            "exception_message") or body
        if isinstance(detail, list):  # a 422: [{"loc": [...], "msg": ...}]
            return "; ".join(
                f"{'.'.join(str(p) for p in d.get('loc', ())[1:])}: "
                f"{str(d.get('msg')).removeprefix('Value error, ')}"
                for d in detail if isinstance(d, dict)
            ) or str(detail)
        return str(detail)
    return str(body)


def _wait(retry_state: tenacity.RetryCallState) -> float:
    exc = retry_state.outcome.exception() if retry_state.outcome else None
    hinted = getattr(exc, "retry_after", None)
    if hinted is not None:
        return min(hinted, MAX_RETRY_AFTER)
    return tenacity.wait_random_exponential(multiplier=0.1, max=2.0)(retry_state)


class PrefectHTTP:
    """A pooled httpx client on `api_url`; `call` returns the decoded JSON body (or None)."""

    def __init__(
        self,
        api_url: str,
        *,
        timeout: float,
        headers: Mapping[str, str] | None = None,
        attempts: int = ATTEMPTS,
        transport: httpx.BaseTransport | None = None,
        max_connections: int = 1,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self._timeout = timeout
        self._slots = threading.BoundedSemaphore(max_connections)  # held per attempt, not retry
        self._client = httpx.Client(
            base_url=self.api_url + "/",
            timeout=timeout,
            headers=dict(headers or {}),
            transport=transport,
        )
        self._retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(Retryable),
            stop=tenacity.stop_after_attempt(attempts),
            wait=_wait,
            reraise=True,
        )

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        return self._retrying(self._once, method, path, body, params or None)

    def _once(self, method: str, path: str, body: Any, params: Mapping[str, Any] | None) -> Any:
        where = f"{method} {self.api_url}/{path}"
        closed = ControlPlaneUnavailable(f"{where}: the connection to Prefect is closed")
        if self._client.is_closed:  # an actor still retrying when the system closed the plane
            raise closed
        if not self._slots.acquire(timeout=self._timeout):
            raise Retryable(f"Prefect at {self.api_url}: no free connection in {self._timeout:g} s "
                            f"({where})")
        try:
            response = self._client.request(method, path, json=body, params=params)
        except RuntimeError:  # httpx's "client has been closed": closed while this one waited
            if self._client.is_closed:
                raise closed from None
            raise
        except httpx.TimeoutException:
            raise Retryable(f"Prefect at {self.api_url} did not answer in time ({where})") from None
        except httpx.TransportError as exc:
            raise Retryable(f"cannot reach Prefect at {self.api_url}: {exc or type(exc).__name__}"
                            ) from None
        finally:
            self._slots.release()
        status = response.status_code
        if status in RETRYABLE:
            raise Retryable(f"Prefect answered {status} to {where}: {_detail(response)}",
                            _retry_after(response))
        if status in (401, 403):
            raise ControlPlaneError(
                f"Prefect at {self.api_url} refused the credentials (HTTP {status}): "
                "check api_key_env / auth_string_env")
        if status == 404:
            raise NotFound(f"{where}: {_detail(response)}")
        if status >= 400:
            detail = _detail(response)
            raise Refused(f"Prefect refused {where} (HTTP {status}): {detail}", detail)
        if status == 204 or not response.content:
            return None
        return response.json()

    def close(self) -> None:
        self._client.close()
