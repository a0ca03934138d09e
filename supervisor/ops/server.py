"""OpsServer: the ops API of one supervisor, served on a daemon thread.

Why no framework: small routes and one static page, one process, loopback by default — the
standard library's `ThreadingHTTPServer` does it with no dependency (plumbing in transport.py,
endpoints in routes.py).
"""

from __future__ import annotations

import errno
import logging
import socket
import threading

from supervisor.errors import OpsError
from supervisor.ops.auth import BearerAuth
from supervisor.ops.client import base_url
from supervisor.ops.guard import Guard
from supervisor.ops.routes import Router
from supervisor.ops.transport import MAX_BODY, OpsHTTPServer
from supervisor.ops.view import SystemView

__all__ = ["MAX_BODY", "OpsServer"]

logger = logging.getLogger("supervisor.ops")


class OpsServer:
    """The ops API of one supervisor. `start()` binds and returns at once; `stop()` is idempotent.

    `token` None or empty: cancel and shutdown answer 403 (off). `view_timeout` bounds every call
    into the system; past it the request gets a 503.
    """

    def __init__(
        self,
        view: SystemView,
        host: str,
        port: int,
        token: str | None,
        *,
        view_timeout: float = 2.0,
        max_body: int = MAX_BODY,
    ) -> None:
        self.host = host
        self._port = port
        self._router = Router(view, BearerAuth(token), Guard(view_timeout))
        self._max_body = max_body
        self._server: OpsHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._bound: int | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The bound port once started (the one the OS picked when 0 was asked)."""
        return self._bound if self._bound is not None else self._port

    @property
    def url(self) -> str:
        return base_url(self.host, self.port)

    def start(self) -> None:
        with self._lock:
            self._start()

    def _start(self) -> None:
        if self._server is not None:
            raise OpsError(f"ops API already serving at {self.url}")
        where = base_url(self.host, self._port).removeprefix("http://")
        try:
            family = socket.getaddrinfo(self.host, self._port, type=socket.SOCK_STREAM)[0][0]
            server = OpsHTTPServer((self.host, self._port), family, self._router, self._max_body)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            hint = " (another supervisor? change [ops] port)" if _in_use(exc) else ""
            raise OpsError(f"cannot serve the ops API on {where}: {reason}{hint}") from None
        self._server, self._bound = server, server.server_address[1]
        self._thread = threading.Thread(
            target=server.serve,
            name=f"ops-api-{self.port}", daemon=True,
        )
        self._thread.start()
        logger.debug("ops API serving at %s", self.url)

    def stop(self, grace: float = 1.0) -> None:
        """Stop accepting, let requests in progress finish (up to `grace` s), close the rest."""
        with self._lock:
            server, thread = self._server, self._thread
            if server is None or thread is None:
                return
            server.wake_to_stop()
            thread.join()
            server.server_close()
            server.close_connections(grace)
            self._server = self._thread = None

    def __enter__(self) -> OpsServer:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _in_use(exc: OSError) -> bool:
    return exc.errno == errno.EADDRINUSE
