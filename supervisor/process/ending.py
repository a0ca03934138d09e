"""A run's end sequence, driven by events, on the worker thread only (so it needs no lock).

TERM the whole tree (walk + process group + every process carrying the cookie) -> wait for the
grace, finishing early when every pidfd fired -> KILL what is left -> reap ours -> verify by a
cookie scan that nothing is left. The same sequence ends leftovers after a normal exit.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
from collections.abc import Callable

from supervisor.process import pidfds, procfs, reaper
from supervisor.process.exits import Ending, ExitReason
from supervisor.process.pidfds import Proc
from supervisor.process.runtime import Runtime
from supervisor.process.worker import Snapshot
from supervisor.timers import Scheduler, TimerHandle

log = logging.getLogger(__name__)

KILL_WAIT = 5.0  # after SIGKILL, how long to wait for the kernel before reporting leftovers


class TreeEnder:
    def __init__(
        self,
        run_id: str,
        main: Proc,
        kill_grace: float,
        rt: Runtime,
        timers: Scheduler,
        done: Callable[[Ending], None],
        main_reaped: Callable[[], None],
    ) -> None:
        self.run_id = run_id
        self.main = main
        self._timers = timers  # deadlines on its clock: `at` and the grace are in its time
        self._started = timers.clock.monotonic()
        self._kill_grace = kill_grace
        self._rt = rt
        self._done = done
        self._main_reaped = main_reaped
        self._procs: dict[int, Proc] = {}  # every process identified as the run's, by pid
        self._live: set[Proc] = set()
        self._ended: set[Proc] = set()  # processes besides main that we had to signal
        self._sids: set[int] = set()
        self._phase = "running"  # -> "term" -> "kill" -> "finished"
        self._reason = ExitReason.EXITED
        self._grace = 0.0
        self._requested_after: float | None = None
        self._deadline = 0.0
        self._timer: TimerHandle | None = None
        self._escalated = False
        self.returncode: int | None = None
        self.core_dumped = False

    def start(self) -> None:
        """Watch the main process (once the output reader is in place)."""
        self._track(self.main)

    # --- events (each runs on the worker thread) ---

    def request(self, snap: Snapshot, reason: ExitReason, grace: float, at: float) -> None:
        if self._phase == "running":
            self._requested_after = at - self._started
            self._begin(snap, reason, grace, at)
        elif self._phase == "term" and at + grace < self._deadline:
            self._set_deadline(at + grace)

    def adopt(self, snap: Snapshot, found: list[tuple[int, int]]) -> None:
        """Hold daemons re-parented to us (found with our cookie by tree(), as pid + start time)
        so they are reaped when they die, even if that happened in the meantime."""
        if self._phase != "running":
            return
        for pid, starttime in found:
            known = self._procs.get(pid)
            if known is not None and known.starttime == starttime:
                continue
            proc = pidfds.open_proc(pid, starttime=starttime, ppid=os.getpid())
            if proc is not None:
                self._track(proc)

    def _fired(self, snap: Snapshot, proc: Proc) -> None:
        proc.exited = True
        self._live.discard(proc)
        if proc is self.main:
            status = pidfds.peek(proc)
            if status is not None:
                self.returncode, self.core_dumped = pidfds.status_of(status)
            if self._phase == "running":
                now = self._timers.clock.monotonic()
                self._begin(snap, ExitReason.EXITED, self._kill_grace, now)
                return
            if self._phase == "finished":
                self._reap_main()  # it outlived SIGKILL for a while (uninterruptible sleep)
                return
        else:
            pidfds.reap(proc)
            proc.close()
        if self._phase in ("term", "kill") and not self._live:
            self._settle(snap)

    def _on_deadline(self, snap: Snapshot) -> None:
        if self._phase != "term":
            return
        self._phase = "kill"
        alive = [proc for proc in self._live if not pidfds.has_exited(proc)]
        self._escalated |= bool(alive)
        self._signal_group(signal.SIGKILL)
        for proc in alive:
            pidfds.send(proc, signal.SIGKILL)
        self._sweep_tree(signal.SIGKILL)
        self._timer = self._timers.call_later(KILL_WAIT, lambda: self._submit(self._give_up))
        self._settle(snap)

    def _give_up(self, snap: Snapshot) -> None:
        if self._phase == "kill":
            log.error("run %s: %d process(es) survived SIGKILL", self.run_id, len(self._live))
            self._finish(snap, leftovers=len(snap.pids(self.run_id, self._sids, everywhere=True)))

    # --- steps ---

    def _begin(self, snap: Snapshot, reason: ExitReason, grace: float, at: float) -> None:
        self._phase, self._reason, self._grace = "term", reason, grace
        self._signal_group(signal.SIGTERM)
        for proc in list(self._live):
            self._hit(proc, signal.SIGTERM)
        if not snap.local:  # as subreaper, _settle walks the tree (once is enough)
            self._sweep_tree(signal.SIGTERM)
        self._set_deadline(at + grace)
        self._settle(snap)

    def _set_deadline(self, deadline: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._deadline = deadline
        self._timer = self._timers.call_at(deadline, lambda: self._submit(self._on_deadline))

    def _settle(self, snap: Snapshot) -> None:
        """Track and signal cookie carriers not yet known; finish once nothing is alive."""
        sig = signal.SIGTERM if self._phase == "term" else signal.SIGKILL
        if snap.local:  # what the live tree forked since the last walk is under it, not adopted
            self._sweep_tree(sig)
        unpinned = 0
        for pid in snap.pids(self.run_id, self._sids):
            known = self._procs.get(pid)
            if known is not None and not known.exited:
                continue
            proc = pidfds.open_proc(pid)
            if proc is None:
                unpinned += pidfds.exists(pid)  # alive but not pinnable (no fds left): not ended
                continue
            ours = proc.sid in self._sids or procfs.read_cookie(pid) == self.run_id
            if not ours or (known is not None and known.starttime == proc.starttime):
                proc.close()  # the pid was reused after the scan: not ours
                continue
            self._track(proc)
            self._hit(proc, sig)
        if not self._live and self._phase != "finished":
            self._finish(snap, leftovers=unpinned)

    def _sweep_tree(self, sig: int) -> None:
        """Find and signal every descendant of what we hold (those without the cookie too).
        An exited process has no children left to walk: they were re-parented before its
        pidfd fired."""
        stack = [p for p in self._procs.values() if not p.exited]
        while stack:
            parent = stack.pop()
            for pid in procfs.children(parent.pid):
                known = self._procs.get(pid)
                if known is not None and not known.exited:
                    continue
                proc = pidfds.open_proc(pid, ppid=parent.pid)
                if proc is not None:
                    self._track(proc)
                    self._hit(proc, sig)
                    stack.append(proc)

    def _hit(self, proc: Proc, sig: int) -> None:
        if pidfds.send(proc, sig) and proc is not self.main:
            self._ended.add(proc)
            self._escalated |= sig == signal.SIGKILL

    def _signal_group(self, sig: int) -> None:
        """The run's process group in one atomic kill; safe: our unreaped main pins its pgid."""
        if self.main.closed:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.main.pid, sig)

    def _track(self, proc: Proc) -> None:
        self._procs[proc.pid] = proc
        self._live.add(proc)
        if proc.sid != os.getsid(0):
            self._sids.add(proc.sid)
        self._rt.watcher.add(
            proc.fd, lambda _ev: self._submit(lambda snap: self._fired(snap, proc)), oneshot=True
        )

    def _submit(self, step: Callable[[Snapshot], None]) -> None:
        self._rt.worker.submit(step)

    def _finish(self, snap: Snapshot, leftovers: int) -> None:
        self._phase = "finished"
        if self._timer is not None:
            self._timer.cancel()
        reaper.reap_session_zombies(self._sids, snap.adopted(), skip={self.main.pid})
        if self.main.exited:
            self._reap_main()
        self._done(
            Ending(
                reason=self._reason,
                returncode=self.returncode,
                core_dumped=self.core_dumped,
                grace=self._grace,
                requested_after=self._requested_after,
                signalled=len(self._ended),
                escalated=self._escalated,
                leftovers=leftovers,
            )
        )

    def _reap_main(self) -> None:
        if not self.main.closed:
            pidfds.reap(self.main)
            self._rt.mains.discard(self.main.pid)
            self.main.close()
            self._main_reaped()
