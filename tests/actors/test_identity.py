"""Typed identities and phases: a run actor's identity carries its run id to the root (no name
parsed back), and names, phases and states render as the same text as before."""

from __future__ import annotations

import json
import uuid

import pykka

from actors.board import ActorState
from actors.identity import RunActorId, RunPhase
from actors.messages import ChildFailed, ProcessExited
from actors.run_actor import RunActor
from supervisor.models import StateType
from tests.actors.harness import start_harness
from tests.waiting import wait_until


def test_a_run_actors_identity_renders_as_its_old_name_and_is_a_value():
    run_id = uuid.uuid4()
    assert str(RunActorId(run_id)) == f"run-{run_id}"
    assert RunActorId(run_id) == RunActorId(run_id) and len({RunActorId(run_id)} | {
        RunActorId(run_id)}) == 1
    failure = ChildFailed(RunActorId(run_id), "boom", "handler")
    assert failure.name == f"run-{run_id}" and failure.actor.run_id == run_id


def test_phases_and_states_serialise_as_the_plain_strings():
    assert json.dumps({"phase": RunPhase.ARMED, "state": ActorState.RUNNING}) == (
        '{"phase": "armed", "state": "running"}')
    assert f"{RunPhase.PREPARING}" == "preparing"


def test_the_ops_views_show_the_same_text(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        h.process(run)
        h.wait_state(run, StateType.RUNNING)
        in_flight = json.loads(json.dumps(h.sup.runs_in_flight()))
        assert [(r["id"], r["phase"]) for r in in_flight] == [(str(run.id), "running")]
        tree = json.dumps(h.sup.actor_states())
        assert f'"name": "run-{run.id}", "kind": "run", "state": "running"' in tree
    finally:
        h.sup.stop()


def test_a_run_actor_that_dies_is_known_to_the_root_by_its_run(tmp_path):
    h = start_harness(tmp_path, [{"name": "job", "command": ["prog"]}])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        h.wait_state(run, StateType.RUNNING)
        # When its actor meets a bug in a handler
        (ref,) = pykka.ActorRegistry.get_by_class(RunActor)
        ref.tell(ProcessExited(run.id, None))  # type: ignore[arg-type]  # no result: a bug
        # Then the root ends that run's tree, reports it CRASHED and frees its slot
        wait_until(lambda: process.terminations, message="its tree is ended")
        ended = h.wait_state(run, StateType.CRASHED)
        assert "run actor failed (AttributeError" in (ended.state.message or "")
        wait_until(lambda: h.in_flight() == 0)
        assert h.sup.board.get(str(RunActorId(run.id))) is None
        assert h.sup.health()[0]
    finally:
        h.sup.stop()
