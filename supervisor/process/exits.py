"""How a run's process ended, explained in one sentence the user can act on."""

from __future__ import annotations

import enum
import signal
from dataclasses import dataclass

from supervisor.models import StateType


class ExitReason(enum.StrEnum):
    EXITED = "exited"  # the main process ended on its own
    CANCELLED = "cancelled"
    TIMED_OUT = "timed_out"
    SHUTDOWN = "shutdown"
    START_FAILED = "start_failed"


@dataclass(frozen=True)
class ExitResult:
    reason: ExitReason
    returncode: int | None  # None when it could not start (or the status was taken elsewhere)
    signal_name: str | None  # "SIGKILL" when killed by a signal, else None
    state_type: StateType
    state_name: str
    message: str
    escalated: bool  # SIGKILL had to be sent
    leftovers: int  # processes still carrying the cookie after the final verify (must be 0)
    duration: float  # seconds from spawn to result
    log_truncated: str | None = None  # where and why the run's log was cut (also in `message`)


_SHELL_CODES = {
    126: "command not executable (permission denied or not a program)",
    127: "command not found",
    137: "killed by SIGKILL as a shell or container reports it (128+9: out of memory, manual kill)",
    143: "terminated by SIGTERM, as a shell or container reports it (128+15)",
    247: "commonly SIGKILL (-9) as an unsigned byte; some runtimes report out of memory this way",
}


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def explain_returncode(returncode: int | None, core_dumped: bool = False) -> str:
    """'exited with code 127: command not found', 'killed by SIGKILL (out of memory or ...)'."""
    if returncode is None:
        return "exit status unknown (it was collected by someone else in this process)"
    if returncode < 0:
        name = signal_name(-returncode)
        core = ", core dumped" if core_dumped else ""
        if returncode == -signal.SIGKILL:
            return f"killed by SIGKILL (out of memory or a manual kill{core})"
        if returncode == -signal.SIGTERM:
            return f"terminated by SIGTERM{' (core dumped)' if core_dumped else ''}"
        return f"killed by {name}{' (core dumped)' if core_dumped else ''}"
    text = f"exited with code {returncode}"
    if returncode in _SHELL_CODES:
        return f"{text}: {_SHELL_CODES[returncode]}"
    if 128 < returncode < 128 + 65:
        return f"{text}: probably killed by {signal_name(returncode - 128)}, as a shell reports it"
    return text


_STATES = {
    ExitReason.CANCELLED: (StateType.CANCELLED, "Cancelled"),
    ExitReason.SHUTDOWN: (StateType.CANCELLED, "Cancelled"),
    ExitReason.TIMED_OUT: (StateType.FAILED, "TimedOut"),
    ExitReason.START_FAILED: (StateType.CRASHED, "Crashed"),
}


def state_of(reason: ExitReason, returncode: int | None) -> tuple[StateType, str]:
    if reason is ExitReason.EXITED:
        if returncode == 0:
            return StateType.COMPLETED, "Completed"
        return StateType.CRASHED, "Crashed"
    return _STATES[reason]


def start_failed(error: str, duration: float) -> ExitResult:
    return ExitResult(
        reason=ExitReason.START_FAILED,
        returncode=None,
        signal_name=None,
        state_type=StateType.CRASHED,
        state_name="Crashed",
        message=f"could not start: {error}",
        escalated=False,
        leftovers=0,
        duration=duration,
    )


@dataclass(frozen=True)
class Ending:
    """What the end sequence observed; `describe` turns it into the user's sentence."""

    reason: ExitReason
    returncode: int | None
    core_dumped: bool
    grace: float
    requested_after: float | None  # seconds from spawn to the terminate() call
    signalled: int  # processes sent SIGTERM (besides a main that had already exited)
    escalated: bool
    leftovers: int

    def describe(self) -> str:
        grace = f"{self.grace:g}s"
        if self.escalated:
            how = f"SIGTERM ignored, SIGKILL after the {grace} grace"
        else:
            how = f"SIGTERM, ended within the {grace} grace"
        if self.reason is ExitReason.EXITED:
            text = explain_returncode(self.returncode, self.core_dumped)
            if self.signalled:
                text += f"; {self.signalled} leftover process(es) ended ({how})"
        elif self.reason is ExitReason.TIMED_OUT:
            text = f"timed out after {self.requested_after or 0:.3g}s: {how}"
        elif self.reason is ExitReason.SHUTDOWN:
            text = f"stopped because the supervisor is shutting down: {how}"
        else:
            text = f"cancelled: {how}"
        if self.leftovers:
            text += f"; {self.leftovers} process(es) could not be ended"
        return text

    def result(self, duration: float) -> ExitResult:
        state_type, state_name = state_of(self.reason, self.returncode)
        rc = self.returncode
        return ExitResult(
            reason=self.reason,
            returncode=rc,
            signal_name=signal_name(-rc) if rc is not None and rc < 0 else None,
            state_type=state_type,
            state_name=state_name,
            message=self.describe(),
            escalated=self.escalated,
            leftovers=self.leftovers,
            duration=duration,
        )
