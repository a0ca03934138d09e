"""The lease on a supervisor's name: one live supervisor per name and control plane.

A restarting supervisor ends and closes out every in-flight run recorded under its name (they
are a crashed incarnation's). That is only safe when no other live process has the name, so a
supervisor holds an OS lock (`flock`) on a lease file for its whole life; the kernel drops it
when the process dies, `kill -9` included, so a crash never leaves a stale lease. Any control
plane adapter can use it: the local one puts the file next to its database, a remote one next
to its local journal.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from supervisor.errors import SupervisorAlreadyRunning


def lease_path(beside: Path, name: str) -> Path:
    """`<beside>.<name>.lease`: one lease per supervisor name on that database or journal."""
    return beside.with_name(f"{beside.name}.{name}.lease")


@contextlib.contextmanager
def hold_lease(path: Path, name: str, *, on: str | None = None) -> Iterator[Path]:
    """Hold the lease at `path` for the `with` block, or raise SupervisorAlreadyRunning at once.

    `on` names the control plane in the error ("database .supervisor/state.db"). The file is
    left in place on release (unlinking a lock file races with the next locker).
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            pid = f"pid {holder}" if holder.isdigit() else "another process"
            raise SupervisorAlreadyRunning(
                f"supervisor {name!r} is already running on {on or path} ({pid} holds {path}); "
                "stop it, or give this one another [supervisor] name"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)
