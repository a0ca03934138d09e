"""The human `status` text: health, the actor tree, each run and its process tree."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from supervisor.ops.render import age, human_bytes, process_tree, render_status
from tests.ops.fakes import RUN_ID, FakeView, a_run, process

NOW = datetime(2026, 11, 22, 3, 0, 12, tzinfo=UTC)


def status_data(view: FakeView, ok: bool = True) -> dict:
    return {
        "health": {"status": "ok" if ok else "unhealthy", "name": "test-sup",
                   "reason": "pollers ticked 0.2s ago" if ok else "cancel-poller is failed"},
        "actors": view.actor_states(),
        "runs": view.runs_in_flight(),
    }


def test_status_text_draws_the_actor_tree_and_the_process_tree() -> None:
    view = FakeView()
    view.board.update("cancel-poller", restarts=2, last_error="ControlPlaneUnavailable: locked")
    text = render_status(status_data(view), "127.0.0.1:8765", now=NOW)
    lines = text.splitlines()
    assert lines[0] == ("● supervisor 'test-sup' at 127.0.0.1:8765: healthy "
                        "(pollers ticked 0.2s ago)")
    actor_lines = {line.split()[0 if line[0].isalpha() else 1]: line for line in lines[2:7]}
    assert actor_lines["supervisor"].startswith("supervisor ")
    assert actor_lines["schedule-poller"].startswith("├─ schedule-poller")
    assert "12.0s ago" in actor_lines["schedule-poller"]
    assert actor_lines["cancel-poller"].split()[4] == "2"
    assert actor_lines["cancel-poller"].endswith("ControlPlaneUnavailable: locked")
    assert actor_lines[f"run-{RUN_ID}"].startswith(f"└─ run-{RUN_ID}")
    assert "Runs in flight: 1" in lines
    assert f"● {RUN_ID}  nightly  Running" in lines
    assert "  started 12.0s ago · pid 4100 · commit 0123456789ab · parameters {\"n\": 3}" in lines
    tree = lines[lines.index("  PID   CPU%  RSS    STATUS    COMMAND"):]
    assert tree[1:] == [
        "  4100  12.5  48.0M  sleeping  python -m nightly --n 3",
        "  4101  0.0   1.0M   sleeping  ├─ sh -c sleep 100",
        "  4102  0.0   900K   sleeping  │  └─ sleep 100",
        "  4103  0.0   1.0M   sleeping  └─ daemon --forked",
    ]


def test_unhealthy_and_no_runs() -> None:
    view = FakeView()
    view.runs.clear()
    text = render_status(status_data(view, ok=False), "h:1", now=NOW)
    assert text.splitlines()[0] == (
        "○ supervisor 'test-sup' at h:1: UNHEALTHY (cancel-poller is failed)"
    )
    assert text.endswith("Runs in flight: 0")


def test_a_run_without_processes_yet() -> None:
    run = {**a_run(), "tree": [], "start_time": None, "pid": None, "commit": None,
           "parameters": {}, "state": {"type": "PENDING", "name": "Pending", "message": "pulling"}}
    text = render_status({"health": {}, "actors": [], "runs": [run]}, "h:1", now=NOW)
    assert f"● {RUN_ID}  nightly  Pending: pulling" in text
    assert "  not started yet\n  (no processes)" in text


def test_width_cuts_long_lines() -> None:
    text = render_status(status_data(FakeView()), "127.0.0.1:8765", now=NOW, width=40)
    assert all(len(line) <= 40 for line in text.splitlines())
    assert any(line.endswith("…") for line in text.splitlines())


def test_process_tree_nests_by_ppid_and_keeps_orphans_as_roots() -> None:
    roots = process_tree([process(10, 1, "a"), process(12, 11, "orphan"), process(13, 10, "b"),
                          process(14, 14, "self-parented")])
    assert [r["pid"] for r in roots] == [10, 12, 14]
    assert [c["pid"] for c in roots[0]["children"]] == [13]


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0, "0B"), (1023, "1023B"), (2048, "2K"), (48 << 20, "48.0M"), (3 << 30, "3.0G"),
     (None, "-"), ("x", "-")],
)
def test_human_bytes(value: object, shown: str) -> None:
    assert human_bytes(value) == shown


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "-"), ("2026-11-22T03:00:00+00:00", "12.0s ago"), ("2026-11-22T02:58:00", "2m ago"),
     ("2026-11-22T03:00:30+00:00", "just now"), ("2026-11-21T01:00:00+00:00", "1d ago"),
     ("soon", "soon"), (12.5, "12.5")],
)
def test_age(value: object, shown: str) -> None:
    assert age(value, NOW) == shown
