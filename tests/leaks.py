"""Find processes this test session started, through an environment cookie they all inherit."""

from __future__ import annotations

import os
import uuid

SESSION_VAR = "SUPERVISOR_TEST_SESSION"


def session_cookie() -> bytes:
    return f"{SESSION_VAR}={os.environ[SESSION_VAR]}".encode()


def processes_of_session() -> list[tuple[int, str]]:
    """(pid, command) of every live process but this one that carries the session cookie."""
    return processes_with(session_cookie())


def processes_with(cookie: bytes) -> list[tuple[int, str]]:
    """(pid, command) of every live process but this one whose environment holds `cookie`
    (a `NAME=value` entry)."""
    found = []
    me = os.getpid()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as handle:
                environ = handle.read()
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        if stat.rsplit(b")", 1)[-1].split()[0] == b"Z":
            continue  # zombies are checked separately (no environ to read)
        if cookie in environ.split(b"\0"):
            with open(f"/proc/{entry.name}/cmdline", "rb") as handle:
                command = handle.read().replace(b"\0", b" ").decode(errors="replace")
            found.append((int(entry.name), command.strip()))
    return found


def zombie_children() -> list[int]:
    """Children of this process that exited and were never reaped."""
    zombies = []
    for task in os.scandir(f"/proc/{os.getpid()}/task"):
        try:
            with open(f"{task.path}/children") as handle:
                pids = [int(p) for p in handle.read().split()]
        except OSError:
            continue
        for pid in pids:
            try:
                with open(f"/proc/{pid}/stat", "rb") as handle:
                    if handle.read().rsplit(b")", 1)[-1].split()[0] == b"Z":
                        zombies.append(pid)
            except OSError:
                continue
    return zombies


def new_session_value() -> str:
    return uuid.uuid4().hex
