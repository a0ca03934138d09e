"""The HTTP plumbing of the ops API, on the standard library's `http.server`.

Body limits (413 with a lingering close, so the client reads the answer), JSON for the
library's own errors, idle timeouts, quiet logging (debug), a serve loop that stops at once,
and connection tracking so that stopping closes kept-alive connections.
"""

from __future__ import annotations

import contextlib
import json
import logging
import selectors
import socket
import socketserver
import sys
import threading
import time
from collections.abc import Iterator
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from supervisor.ops.routes import JSON, Request, Response, Router, error

logger = logging.getLogger("supervisor.ops")

MAX_BODY = 64 * 1024
"""Largest request body read; the API takes at most a tiny JSON object."""
IDLE_TIMEOUT = 10.0
"""Seconds a connection may sit idle (or trickle a request) before it is closed."""


class OpsHandler(BaseHTTPRequestHandler):
    server: OpsHTTPServer
    protocol_version = "HTTP/1.1"
    # Errors found before the version is parsed (a garbage request line) would otherwise be
    # answered HTTP/0.9-style: a bare body with no status line.
    default_request_version = "HTTP/1.0"
    server_version = "supervisor-ops"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without NODELAY, Nagle plus the client's
        # delayed ACK stall every kept-alive response by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_HEAD(self) -> None:
        self._serve("HEAD")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_OPTIONS(self) -> None:
        self._serve("OPTIONS")

    def _serve(self, method: str) -> None:
        with self.server.busy():
            body = self._read_body()
            if body is None:
                return
            request = Request(
                "GET" if method == "HEAD" else method,
                self.path,
                self.headers.get("Authorization"),
                body,
                self.headers.get("Accept", ""),
            )
            self._write(self.server.router.handle(request), head=method == "HEAD")

    def _read_body(self) -> bytes | None:
        """The body, or None after answering 400/411/413 (and closing: the rest is unread)."""
        if self.headers.get("Transfer-Encoding"):
            self._refuse(error(411, "send the body with a Content-Length"))
            return None
        text = self.headers.get("Content-Length", "0")
        try:
            length = int(text)
            if length < 0:
                raise ValueError
        except ValueError:
            self._refuse(error(400, f"bad Content-Length: {text[:40]!r}"))
            return None
        if length > self.server.max_body:
            self._refuse(error(413, f"body too large: {length} bytes (at most "
                                    f"{self.server.max_body})"))
            return None
        try:
            return self.rfile.read(length) if length else b""
        except OSError:  # the client went quiet or away mid-body
            self.close_connection = True
            return None

    def _refuse(self, response: Response) -> None:
        """Answer, then read and drop what the client still sends (bounded) before closing:
        closing with unread data resets the connection and the client would lose the answer."""
        self.close_connection = True
        self._write(response)
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and self.connection.recv(65536):
                pass

    def _write(self, response: Response, head: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        for name, value in response.headers:
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if not head:
            self.wfile.write(response.body)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's own errors (bad request line, unknown method, huge headers), as JSON."""
        self.close_connection = True
        try:
            phrase = HTTPStatus(code).phrase
        except ValueError:
            phrase = "error"
        body = json.dumps({"error": message or phrase}).encode() + b"\n"
        self.send_response(code, message)
        self.send_header("Content-Type", JSON)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and code >= 200 and code not in (204, 304):
            self.wfile.write(body)

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("ops API %s: " + format, self.address_string(), *args)


class OpsHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    """Listen backlog: a burst of clients (a dashboard, a fleet of scripts) is queued by the
    kernel, not left to SYN retries (the standard library's default of 5 stalls them ~1 s)."""
    timeout = 0.0
    """handle_request() never waits: serve() calls it only when a connection is ready."""

    def __init__(self, address: tuple[str, int], family: int, router: Router,
                 max_body: int) -> None:
        self.address_family = family
        self.router = router
        self.max_body = max_body
        self._lock = threading.Condition()
        self._connections: set[socket.socket] = set()
        self._active = 0
        self._stopping = False
        self._wake_read, self._wake_write = socket.socketpair()
        super().__init__(address, OpsHandler)  # on failure it calls server_close()
        # Non-blocking accept: a connection reset between select and accept must not hang
        # the serving thread (accepted sockets are blocking again, with the idle timeout).
        self.socket.setblocking(False)

    def serve(self) -> None:
        """serve_forever without its poll: stop() wakes the select through a socket pair, so
        stopping is immediate and an idle server never wakes up."""
        with selectors.DefaultSelector() as selector:
            selector.register(self, selectors.EVENT_READ)
            selector.register(self._wake_read, selectors.EVENT_READ)
            while not self._stopping:
                for key, _ in selector.select():
                    if key.fileobj is self and not self._stopping:
                        self.handle_request()  # readable: accepts without waiting

    def wake_to_stop(self) -> None:
        self._stopping = True
        self._wake_write.send(b"x")

    def server_close(self) -> None:
        super().server_close()
        self._wake_read.close()
        self._wake_write.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn) that can take seconds.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        """socketserver prints tracebacks to stderr; a client that left is routine, not news."""
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError | TimeoutError):
            logger.debug("ops API: client %s went away: %s", client_address, exc)
        else:
            logger.exception("ops API: error serving %s", client_address)

    def track(self, connection: socket.socket, open_: bool) -> None:
        with self._lock:
            (self._connections.add if open_ else self._connections.discard)(connection)

    @contextlib.contextmanager
    def busy(self) -> Iterator[None]:
        with self._lock:
            self._active += 1
        try:
            yield
        finally:
            with self._lock:
                self._active -= 1
                self._lock.notify_all()

    def close_connections(self, grace: float) -> None:
        """Let requests being answered finish (up to `grace`), then cut idle keep-alives."""
        with self._lock:
            self._lock.wait_for(lambda: self._active == 0, timeout=grace)
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
