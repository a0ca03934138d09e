"""Talking to a running supervisor's ops API: `OpsClient` (httpx) and `nudge_supervisor`.

`nudge_supervisor` uses the standard library's http.client on purpose: the CLI's `run` and
`cancel` call it on every invocation, and it should neither pay httpx's import (~60 ms) nor go
through a proxy named in the environment. Both never follow proxies (`trust_env=False`): the
ops API is a local or internal address.
"""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from supervisor.errors import OpsError

if TYPE_CHECKING:
    import httpx

    from supervisor.settings import OpsSection, Settings

logger = logging.getLogger("supervisor.ops")


class OpsResponseError(OpsError):
    """The ops API answered with an error status; `status` is the HTTP code."""

    def __init__(self, message: str, status: int, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def connect_host(host: str) -> str:
    """Where to connect for a server bound to `host` (a wildcard means this machine)."""
    return {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)


def base_url(host: str, port: int) -> str:
    host = connect_host(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def settings_url(ops: OpsSection) -> str:
    return base_url(ops.host, ops.port)


def nudge_supervisor(settings: Settings, timeout: float = 0.5) -> bool:
    """Best effort `POST /nudge` to the supervisor named by `settings`; True if one took it.

    Never raises: no supervisor running is the common case (logged at debug only).
    """
    import http.client

    ops = settings.ops
    if not ops.enabled or ops.port == 0:
        return False
    connection: http.client.HTTPConnection | None = None
    try:
        connection = http.client.HTTPConnection(connect_host(ops.host), ops.port, timeout=timeout)
        connection.request("POST", "/nudge", headers={"Content-Length": "0"})
        response = connection.getresponse()
        response.read()
        return 200 <= response.status < 300
    except Exception as exc:  # best effort by contract: refused, timeout, bad host, not HTTP
        logger.debug("no supervisor took the nudge at %s:%s: %s", ops.host, ops.port, exc)
        return False
    finally:
        if connection is not None:
            connection.close()


class OpsClient:
    """A small typed client for the ops API; every failure is an OpsError with one clear line."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        timeout: float = 5.0,
        *,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, trust_env=False,
            transport=transport,
        )
        self._timeout = timeout

    @classmethod
    def for_settings(
        cls, settings: Settings, token: str | None = None, timeout: float = 5.0
    ) -> OpsClient:
        return cls(settings_url(settings.ops), token, timeout)

    @property
    def where(self) -> str:
        return self.base_url.removeprefix("http://").removeprefix("https://")

    def health(self) -> dict[str, Any]:
        """The health document, healthy or not (`status` is "ok" or "unhealthy")."""
        return self._json("GET", "/health", ok=(200, 503))

    def actors(self) -> list[dict[str, Any]]:
        return self._json("GET", "/actors")

    def runs(self) -> list[dict[str, Any]]:
        return self._json("GET", "/runs")

    def run(self, run_id: uuid.UUID | str) -> dict[str, Any]:
        return self._json("GET", f"/runs/{run_id}")

    def metrics(self) -> str:
        return self._request("GET", "/metrics").text

    def cancel(self, run_id: uuid.UUID | str, by: str | None = None) -> dict[str, Any]:
        return self._json("POST", f"/runs/{run_id}/cancel", body={"by": by} if by else None)

    def shutdown(self) -> dict[str, Any]:
        return self._json("POST", "/shutdown")

    def nudge(self) -> dict[str, Any]:
        return self._json("POST", "/nudge")

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OpsClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _json(
        self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()
    ) -> Any:
        response = self._request(method, path, body, ok)
        try:
            return response.json()
        except ValueError:
            raise OpsError(f"{self.where}{path} answered non-JSON: is it a supervisor?") from None

    def _request(
        self, method: str, path: str, body: Any = None, ok: tuple[int, ...] = ()
    ) -> httpx.Response:
        import httpx

        try:
            response = self._http.request(method, path, json=body)
        except httpx.ConnectError as exc:
            raise OpsError(f"no supervisor answering at {self.where} ({_reason(exc)})") from None
        except httpx.TimeoutException:
            raise OpsError(
                f"the supervisor at {self.where} did not answer within {self._timeout:g}s"
            ) from None
        except httpx.HTTPError as exc:
            raise OpsError(f"{method} {self.where}{path} failed: {_reason(exc)}") from None
        if response.is_success or response.status_code in ok:
            return response
        try:
            data = response.json()
            message = data.get("error") if isinstance(data, dict) else None
        except ValueError:
            data, message = None, None
        raise OpsResponseError(
            f"{method} {path}: {response.status_code} {message or response.reason_phrase}",
            response.status_code,
            data,
        )


def _reason(exc: Exception) -> str:
    text = str(exc)
    # httpx wraps OS errors as "[Errno 111] Connection refused": keep the words.
    return text.split("] ", 1)[-1] if text.startswith("[Errno") else (text or type(exc).__name__)
