"""`GET /runs/{id}/log?offset=N`: a run's captured output from byte N, one bounded chunk at a time.

The answer says where to ask next (`next_offset`) and whether there is nothing more to come
(`complete`: the run had ended before the file was read, and it is read to its end), so the
dashboard follows a log the way `logs --follow` does. A chunk never ends inside a UTF-8 character
while more may follow: the cut character comes whole with the next chunk.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from supervisor.ops.responses import Request, Response, error, json_response, run_id_of, shown

if TYPE_CHECKING:
    from pathlib import Path

    from supervisor.ops.routes import Router

CHUNK = 64 * 1024
"""Most bytes one answer carries."""


def run_log(router: Router, request: Request, params: dict[str, str]) -> Response:
    run_id = run_id_of(params)
    if isinstance(run_id, Response):
        return run_id
    text = request.query("offset")
    offset = 0 if text is None else _offset(text)
    if offset is None:
        return error(400, f"bad offset: {shown(text or '')} (expected a byte offset: 0, 1, 2 …)")
    # The state first, then the file: output written before the run ended is never missed.
    path, ended = router.call(lambda: router.view.run_log(run_id), "log")
    chunk, size = _read(path, offset)
    if offset > size:
        return error(400, f"bad offset: {offset} is past the end of the log ({size} bytes)")
    at_end = offset + len(chunk) == size
    if not (ended and at_end):
        chunk = _whole_characters(chunk)
    next_offset = offset + len(chunk)
    return json_response(200, {
        "id": str(run_id),
        "offset": offset,
        "next_offset": next_offset,
        "size": size,
        "text": chunk.decode(errors="replace"),
        "complete": ended and next_offset == size,
    })


def _offset(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def _read(path: Path, offset: int) -> tuple[bytes, int]:
    """Up to CHUNK bytes from `offset`, and the file's size (a missing file: nothing yet)."""
    try:
        with open(path, "rb") as handle:
            size = handle.seek(0, 2)
            if offset >= size:
                return b"", size
            handle.seek(offset)
            return handle.read(min(CHUNK, size - offset)), size
    except FileNotFoundError:
        return b"", 0


def _whole_characters(chunk: bytes) -> bytes:
    """`chunk` without a UTF-8 sequence cut short at its end."""
    for back in range(1, min(4, len(chunk)) + 1):
        byte = chunk[-back]
        if byte < 0x80:
            return chunk
        if byte >= 0xC0:  # the lead byte of the last character
            length = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return chunk if back >= length else chunk[:-back]
    return chunk  # not UTF-8: sent as is (decoded with replacement characters)
