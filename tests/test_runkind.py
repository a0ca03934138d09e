"""The two kinds of run (`supervisor/runkind.py`): what the supervisor reports after Prefect's
engine exits, and which settings make which kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.errors import ConfigError
from supervisor.models import State, StateType
from supervisor.runkind import settle
from supervisor.settings import parse_settings

CRASHED = State.of(StateType.CRASHED, "exited with code 3")
EXIT_0 = State.of(StateType.COMPLETED, "exited with code 0")
CANCELLED = State.of(StateType.CANCELLED, "cancelled by the server: ended the tree")


@pytest.mark.parametrize("now", [StateType.COMPLETED, StateType.FAILED, StateType.CRASHED,
                                 StateType.CANCELLED])
def test_a_run_the_engine_ended_gets_nothing_more(now: StateType) -> None:
    assert settle(State.of(now), CRASHED) is None
    assert settle(State.of(now), EXIT_0) is None


def test_a_cancelling_run_becomes_cancelled_whatever_the_exit() -> None:
    cancelling = State.of(StateType.CANCELLING)
    state = settle(cancelling, CANCELLED)
    assert state is not None and (state.type, state.message) == (StateType.CANCELLED,
                                                                  CANCELLED.message)
    state = settle(cancelling, CRASHED)
    assert state is not None and state.type is StateType.CANCELLED
    assert "code 3" in state.message


@pytest.mark.parametrize("now", [StateType.PENDING, StateType.RUNNING])
def test_a_run_left_unfinished_is_crashed_with_the_exit_explained(now: StateType) -> None:
    assert settle(State.of(now), CRASHED) is CRASHED
    state = settle(State.of(now), EXIT_0)  # 2.19's CANCELLING-then-exit-0, a lost report
    assert state is not None and state.type is StateType.CRASHED
    assert "exited with code 0" in state.message and now.value in state.message


def settings(tmp_path: Path, deployment: dict[str, object], kind: str = "prefect") -> object:
    plane = {"kind": kind, "api_url": "http://x/api"} if kind == "prefect" else {}
    return parse_settings({"control_plane": plane, "deployments": [{"name": "d", **deployment}]},
                          tmp_path / "s.toml", env={})


def test_flow_with_an_entrypoint_or_command_is_refused(tmp_path: Path) -> None:
    for extra in ({"entrypoint": "f.py:g"}, {"command": ["true"]}):
        with pytest.raises(ConfigError, match=r"deployments\[0\] \(d\)\.flow: set `flow` alone"):
            settings(tmp_path, {"flow": "f.py:g", **extra})


def test_flow_needs_a_prefect_control_plane_and_a_file_and_function(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"deployments\[0\]\.flow: needs a Prefect control"):
        settings(tmp_path, {"flow": "f.py:g"}, kind="local")
    with pytest.raises(ConfigError, match=r"must look like 'file\.py:fn'"):
        settings(tmp_path, {"flow": "f.py"})


def test_worker_keys_need_a_pool_and_a_prefect_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="work_queues, work_queue_prefix: need a work_pool"):
        parse_settings({"control_plane": {"kind": "prefect", "api_url": "http://x/api",
                                          "work_queues": ["a"]}}, tmp_path / "s.toml", env={})
    with pytest.raises(ConfigError, match='work_pool: needs kind = "prefect"'):
        parse_settings({"control_plane": {"work_pool": "p"}}, tmp_path / "s.toml", env={})
