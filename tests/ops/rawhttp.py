"""Send bytes no well-behaved client would send, and read the answer."""

from __future__ import annotations

import json
import socket
from typing import Any


def exchange(port: int, data: bytes, timeout: float = 5.0) -> tuple[int, dict[str, str], Any]:
    """Send `data` on a fresh connection; return (status, headers, JSON body) of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        received = b""
        while b"\r\n\r\n" not in received:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        head, _, body = received.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        fields = (line.partition(":") for line in lines[1:])
        headers = {name.strip().lower(): value.strip() for name, _, value in fields}
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return status, headers, json.loads(body) if body else None
