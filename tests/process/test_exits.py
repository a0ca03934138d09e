"""Exit explanations and state mapping (pure)."""

from __future__ import annotations

import pytest

from supervisor.models import StateType
from supervisor.process.exits import Ending, ExitReason, explain_returncode, start_failed


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, "exited with code 0"),
        (1, "exited with code 1"),
        (-9, "killed by SIGKILL (out of memory or a manual kill)"),
        (-15, "terminated by SIGTERM"),
        (-11, "killed by SIGSEGV"),
        (126, "exited with code 126: command not executable"),
        (127, "exited with code 127: command not found"),
        (137, "exited with code 137: killed by SIGKILL as a shell or container reports it"),
        (143, "exited with code 143: terminated by SIGTERM"),
        (247, "exited with code 247: commonly SIGKILL (-9) as an unsigned byte"),
        (130, "exited with code 130: probably killed by SIGINT"),
        (None, "exit status unknown"),
    ],
)
def test_explain_returncode(code, expected):
    assert explain_returncode(code).startswith(expected)


def test_core_dump_is_mentioned():
    assert explain_returncode(-6, core_dumped=True) == "killed by SIGABRT (core dumped)"


def ending(reason: ExitReason, returncode: int | None = 0, **kw) -> Ending:
    fields = dict(
        reason=reason,
        returncode=returncode,
        core_dumped=False,
        grace=5.0,
        requested_after=30.0,
        signalled=0,
        escalated=False,
        leftovers=0,
    )
    fields.update(kw)
    return Ending(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("reason", "returncode", "state", "name"),
    [
        (ExitReason.EXITED, 0, StateType.COMPLETED, "Completed"),
        (ExitReason.EXITED, 2, StateType.CRASHED, "Crashed"),
        (ExitReason.EXITED, -9, StateType.CRASHED, "Crashed"),
        (ExitReason.CANCELLED, -15, StateType.CANCELLED, "Cancelled"),
        (ExitReason.SHUTDOWN, -15, StateType.CANCELLED, "Cancelled"),
        (ExitReason.TIMED_OUT, -9, StateType.FAILED, "TimedOut"),
    ],
)
def test_state_of_each_ending(reason, returncode, state, name):
    result = ending(reason, returncode).result(1.0)
    assert (result.state_type, result.state_name) == (state, name)
    assert result.signal_name == {-9: "SIGKILL", -15: "SIGTERM"}.get(returncode)


def test_messages_say_what_happened():
    assert (
        ending(ExitReason.CANCELLED).describe() == "cancelled: SIGTERM, ended within the 5s grace"
    )
    escalated = ending(ExitReason.CANCELLED, escalated=True).describe()
    assert escalated == "cancelled: SIGTERM ignored, SIGKILL after the 5s grace"
    assert ending(ExitReason.TIMED_OUT).describe().startswith("timed out after 30s")
    assert "shutting down" in ending(ExitReason.SHUTDOWN).describe()
    leftover = ending(ExitReason.EXITED, signalled=2).describe()
    assert leftover == (
        "exited with code 0; 2 leftover process(es) ended (SIGTERM, ended within the 5s grace)"
    )
    assert (
        "1 process(es) could not be ended" in ending(ExitReason.CANCELLED, leftovers=1).describe()
    )


def test_start_failed_is_crashed_without_a_code():
    result = start_failed("[Errno 2] No such file or directory: 'x'", 0.001)
    assert result.reason is ExitReason.START_FAILED
    assert (result.returncode, result.state_type) == (None, StateType.CRASHED)
    assert result.message == "could not start: [Errno 2] No such file or directory: 'x'"
