"""Re-identified processes held through a pidfd: signals and reaps can never hit a reused pid."""

from __future__ import annotations

import logging
import os
import select
import signal
from dataclasses import dataclass, field

from supervisor.process import procfs

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Proc:
    """One process we identified (pid + start time) and pinned with a pidfd."""

    pid: int
    fd: int
    starttime: int
    sid: int
    exited: bool = False
    closed: bool = field(default=False, repr=False)

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            os.close(self.fd)


def open_proc(pid: int, *, starttime: int | None = None, ppid: int | None = None) -> Proc | None:
    """Pin `pid` with a pidfd, then check it is the process we meant (start time, or parent).

    After pidfd_open the pid cannot be reused under us, so a matching /proc read afterwards proves
    the pidfd refers to the process that was found.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return None
    except OSError as error:  # EMFILE and the like: cannot pin it, so we must not signal it
        log.warning("cannot open a pidfd for pid %d: %s", pid, error)
        return None
    stat = procfs.read_stat(pid)
    if (
        stat is None
        or (starttime is not None and stat.starttime != starttime)
        or (ppid is not None and stat.ppid != ppid)
    ):
        os.close(fd)
        return None
    return Proc(pid=pid, fd=fd, starttime=stat.starttime, sid=stat.sid)


def exists(pid: int) -> bool:
    """Whether a live (not zombie) process has this pid right now."""
    stat = procfs.read_stat(pid)
    return stat is not None and stat.state != "Z"


def has_exited(proc: Proc) -> bool:
    """A pidfd turns readable once its process has exited."""
    if proc.exited:
        return True
    poller = select.poll()
    poller.register(proc.fd, select.POLLIN)
    return bool(poller.poll(0))


def send(proc: Proc, sig: int) -> bool:
    """Signal through the pidfd; False when it is gone already ("no such process" is done)."""
    try:
        signal.pidfd_send_signal(proc.fd, sig)
    except ProcessLookupError:
        return False
    return True


def status_of(result: os.waitid_result) -> tuple[int, bool]:
    """(returncode in Popen's convention, core dumped) from a waitid result."""
    if result.si_code == os.CLD_EXITED:
        return result.si_status, False
    return -result.si_status, result.si_code == os.CLD_DUMPED


def peek(proc: Proc) -> os.waitid_result | None:
    """The exit status of our exited child, leaving it a zombie (so it keeps its pid, pgid, sid).

    None when the status is not ours to read (someone else reaped it)."""
    return _wait(proc, os.WNOWAIT)


def reap(proc: Proc) -> bool:
    """Reap `proc` if it is our child and has exited; only ever this exact process (no stealing)."""
    return _wait(proc, 0) is not None


def _wait(proc: Proc, flags: int) -> os.waitid_result | None:
    try:
        result = os.waitid(os.P_PIDFD, proc.fd, os.WEXITED | os.WNOHANG | flags)
        if result is None and proc.exited:
            # the pidfd fired, so the child is exiting: its zombie state is a moment away
            result = os.waitid(os.P_PIDFD, proc.fd, os.WEXITED | flags)
        return result
    except ChildProcessError:
        return None
