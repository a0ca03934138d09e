"""The control-plane contract: written once against the port, run against every adapter.

An adapter's test module subclasses `ControlPlaneContract` and provides a `plane` fixture built
on the `clock` fixture (a FakeClock here; an adapter on a real server may override `clock` with
the real one: tests that must move time call `self.advance`, which skips on a real clock).
Nothing here reads an adapter's storage: only port methods.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone

import pytest

from supervisor.clock import Clock, FakeClock
from supervisor.controlplane.batch import Proposal, propose_all
from supervisor.controlplane.port import ControlPlane
from supervisor.errors import DeploymentNotFound, RunNotFound
from supervisor.models import OrchestrationStatus, Run, State, StateType
from supervisor.settings import DeploymentSettings
from tests.waiting import wait_until

ACCEPT, ABORT = OrchestrationStatus.ACCEPT, OrchestrationStatus.ABORT
START = datetime(2026, 3, 2, 12, 0, 30, tzinfo=UTC)


def deployment(name: str = "etl", **fields: object) -> DeploymentSettings:
    return DeploymentSettings.model_validate({"name": name, "command": ["true"], **fields})


def is_utc(value: datetime | None) -> bool:
    return value is not None and value.utcoffset() == timedelta(0)


class ControlPlaneContract:
    """Every adapter must pass these. Subclasses define the `plane` fixture."""

    @pytest.fixture
    def clock(self) -> Clock:
        return FakeClock(START)

    @pytest.fixture
    def plane(self, clock: Clock) -> Iterator[ControlPlane]:
        raise NotImplementedError("an adapter's test module provides the `plane` fixture")

    @pytest.fixture
    def now(self, clock: Clock) -> datetime:
        return clock.now()

    def advance(self, clock: Clock, seconds: float) -> None:
        if not isinstance(clock, FakeClock):
            pytest.skip("needs a clock the test can move")
        clock.advance(seconds)

    @staticmethod
    def walk(plane: ControlPlane, run: Run, target: StateType) -> Run:
        """Take a fresh SCHEDULED run to `target` the way a supervisor would."""
        if target is StateType.SCHEDULED:
            return plane.read_run(run.id)
        if target is StateType.CANCELLED:
            return plane.request_cancel(run.id)
        assert plane.set_state(run.id, State.of(StateType.PENDING), supervisor="s1").accepted
        if target is not StateType.PENDING:
            assert plane.set_state(run.id, State.of(StateType.RUNNING), pid=42).accepted
        if target is StateType.CANCELLING:
            plane.request_cancel(run.id)
        elif target.is_terminal:
            assert plane.set_state(run.id, State.of(target), exit_code=0).accepted
        found = plane.read_run(run.id)
        assert found.state.type is target
        return found

    # -- deployments -----------------------------------------------------------------------

    def test_port_is_implemented(self, plane: ControlPlane) -> None:
        assert isinstance(plane, ControlPlane)

    def test_registered_deployments_are_listed_by_name(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([
            deployment("nightly", cron="0 3 * * *", timezone="Europe/Berlin", tags=["x"]),
            deployment("adhoc"),
        ])
        adhoc, nightly = plane.read_deployments()
        assert (adhoc.name, adhoc.schedule, adhoc.next_run_time, adhoc.paused) == (
            "adhoc", None, None, False)
        assert nightly.name == "nightly" and nightly.tags == ("x",)
        assert nightly.schedule is not None and "0 3 * * *" in nightly.schedule
        assert is_utc(nightly.next_run_time) and nightly.next_run_time > now  # type: ignore[operator]

    def test_register_is_an_upsert_by_name(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment(parameters={"who": "world", "n": 1})])
        plane.register_deployments([deployment(parameters={"who": "you"})])
        assert [d.name for d in plane.read_deployments()] == ["etl"]
        assert plane.create_run("etl").parameters == {"who": "you"}

    def test_unknown_deployment_is_not_found(self, plane: ControlPlane) -> None:
        with pytest.raises(DeploymentNotFound):
            plane.create_run("nope")
        with pytest.raises(DeploymentNotFound):
            plane.set_paused("nope", True)

    def test_pause_and_resume(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment(interval=60)])
        plane.set_paused("etl", True)
        plane.set_paused("etl", True)  # idempotent
        (info,) = plane.read_deployments()
        assert info.paused and info.next_run_time is None
        plane.set_paused("etl", False)
        (info,) = plane.read_deployments()
        assert not info.paused and info.next_run_time is not None

    # -- ad hoc runs -----------------------------------------------------------------------

    def test_create_run_merges_default_parameters(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment(parameters={"who": "world", "n": 1})])
        run = plane.create_run("etl", {"n": 2, "extra": [1, 2]})
        assert run.parameters == {"who": "world", "n": 2, "extra": [1, 2]}
        assert run.deployment == "etl" and run.state.type is StateType.SCHEDULED
        assert is_utc(run.scheduled_time) and abs(run.scheduled_time - now) < timedelta(seconds=5)
        assert is_utc(run.state.timestamp)
        assert (run.start_time, run.end_time, run.pid, run.exit_code, run.supervisor) == (
            None, None, None, None, None)
        assert plane.read_run(run.id) == run

    def test_create_run_at_a_time_in_another_zone(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        at = datetime(2030, 6, 1, 9, 0, tzinfo=timezone(timedelta(hours=2)))
        run = plane.create_run("etl", scheduled_time=at)
        assert run.scheduled_time == at and is_utc(run.scheduled_time)

    # -- reading scheduled runs ------------------------------------------------------------

    def test_scheduled_runs_oldest_first_before_and_limit(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment("a"), deployment("b"), deployment("c")])
        times = [now + timedelta(minutes=m) for m in (3, 1, 2, 30)]
        pairs = zip("abca", times, strict=True)
        runs = [plane.create_run(name, scheduled_time=t) for name, t in pairs]
        before = now + timedelta(minutes=10)
        found = plane.read_scheduled_runs(["a", "b", "c"], before, 10)
        assert [r.id for r in found] == [runs[1].id, runs[2].id, runs[0].id]
        assert [r.id for r in plane.read_scheduled_runs(["a", "b"], before, 10)] == [
            runs[1].id, runs[0].id]
        assert [r.id for r in plane.read_scheduled_runs(["a", "b", "c"], before, 2)] == [
            runs[1].id, runs[2].id]
        assert plane.read_scheduled_runs(["a", "b", "c"], before, 0) == []
        assert plane.read_scheduled_runs(["unknown"], before, 10) == []
        assert plane.read_scheduled_runs([], before, 10) == []

    def test_due_runs_in_the_past_are_still_returned(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment()])
        late = plane.create_run("etl", scheduled_time=now - timedelta(hours=1))
        (found,) = plane.read_scheduled_runs(["etl"], now, 10)
        assert found.id == late.id and found.state.type is StateType.SCHEDULED

    def test_claimed_runs_are_no_longer_scheduled(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment()])
        first, second = (plane.create_run("etl") for _ in range(2))
        plane.set_state(first.id, State.of(StateType.PENDING), supervisor="s1")
        assert [r.id for r in plane.read_scheduled_runs(["etl"], now, 10)] == [second.id]

    def test_runs_of_paused_deployments_are_not_returned(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment(interval=60), deployment("other")])
        adhoc = plane.create_run("etl")
        other = plane.create_run("other")
        plane.set_paused("etl", True)
        later = now + timedelta(minutes=10)
        assert [r.id for r in plane.read_scheduled_runs(["etl", "other"], later, 100)] == [
            other.id]
        plane.set_paused("etl", False)
        assert adhoc.id in {r.id for r in plane.read_scheduled_runs(["etl"], later, 100)}

    # -- materialised schedules ------------------------------------------------------------

    def test_schedule_slots_are_materialised_once(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment(interval=60, parameters={"p": 1})])
        first = plane.read_scheduled_runs(["etl"], now + timedelta(minutes=5), 100)
        again = plane.read_scheduled_runs(["etl"], now + timedelta(minutes=5), 100)
        more = plane.read_scheduled_runs(["etl"], now + timedelta(minutes=10), 100)
        times = [r.scheduled_time for r in more]
        assert 4 <= len(first) <= 5 and [r.id for r in again] == [r.id for r in first]
        assert [r.id for r in more[: len(first)]] == [r.id for r in first]
        assert len(set(times)) == len(times) == len(first) + 5
        assert all(t > now and t.second == 0 and is_utc(t) for t in times)  # no backfill
        assert all(b - a == timedelta(minutes=1) for a, b in itertools.pairwise(times))
        assert all(r.parameters == {"p": 1} for r in more)

    def test_next_run_time_is_the_next_slot(self, plane: ControlPlane, now: datetime) -> None:
        plane.register_deployments([deployment(interval=3600)])
        (info,) = plane.read_deployments()
        (run,) = plane.read_scheduled_runs(["etl"], now + timedelta(hours=1), 10)
        assert info.next_run_time == run.scheduled_time
        assert now < run.scheduled_time <= now + timedelta(hours=1)

    def test_missed_slots_come_back_late_and_history_is_not_backfilled(
        self, plane: ControlPlane, clock: Clock, now: datetime
    ) -> None:
        plane.register_deployments([deployment(interval=60)])
        self.advance(clock, 140)
        found = plane.read_scheduled_runs(["etl"], clock.now(), 100)
        assert [r.scheduled_time for r in found] == [
            START.replace(second=0) + timedelta(minutes=m) for m in (1, 2)]
        assert all(r.state.type is StateType.SCHEDULED for r in found)

    def test_slots_missed_before_a_restart_coalesce_into_one_late_run(
        self, plane: ControlPlane, clock: Clock
    ) -> None:
        # Given a minutely schedule nobody read for ten minutes (the supervisor was down)
        plane.register_deployments([deployment(interval=60)])
        self.advance(clock, 600)
        # When a supervisor starts again and registers it unchanged
        plane.register_deployments([deployment(interval=60)])
        # Then the ten missed slots are one late run, and the schedule goes on from now
        found = plane.read_scheduled_runs(["etl"], clock.now() + timedelta(seconds=60), 100)
        assert [r.scheduled_time for r in found] == [
            START.replace(second=0) + timedelta(minutes=m) for m in (10, 11)]

    def test_resuming_a_paused_schedule_fires_no_backlog(
        self, plane: ControlPlane, clock: Clock
    ) -> None:
        plane.register_deployments([deployment(interval=60)])
        plane.read_scheduled_runs(["etl"], clock.now() + timedelta(minutes=2), 100)
        plane.set_paused("etl", True)
        self.advance(clock, 600)
        plane.set_paused("etl", False)
        assert plane.read_scheduled_runs(["etl"], clock.now(), 100) == []
        (info,) = plane.read_deployments()
        (run,) = plane.read_scheduled_runs(["etl"], clock.now() + timedelta(seconds=60), 100)
        assert info.next_run_time == run.scheduled_time == START.replace(second=0) + timedelta(
            minutes=11)

    def test_changed_schedule_drops_future_unclaimed_slots(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment(interval=60)])
        soon = now + timedelta(minutes=10)
        old = plane.read_scheduled_runs(["etl"], soon, 100)
        claimed = old[0]
        plane.set_state(claimed.id, State.of(StateType.PENDING), supervisor="s1")
        plane.register_deployments([deployment(interval=300)])
        found = plane.read_scheduled_runs(["etl"], soon, 100)
        assert {r.id for r in found}.isdisjoint(r.id for r in old)
        assert [r.scheduled_time.minute % 5 for r in found] == [0] * len(found)
        assert plane.read_run(claimed.id).state.type is StateType.PENDING

    def test_concurrent_reads_never_duplicate_a_slot(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment(interval=60)])
        until = now + timedelta(minutes=30)
        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(
                lambda _: plane.read_scheduled_runs(["etl"], until, 100), range(16)))
        times = [r.scheduled_time for r in plane.read_runs(deployment="etl", limit=1000)]
        assert len(times) == len(set(times)) == 30
        assert all([r.id for r in res] == [r.id for r in results[0]] for res in results)

    # -- claims and orchestration ----------------------------------------------------------

    def test_claim_is_accepted_once(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = plane.create_run("etl")
        first = plane.set_state(run.id, State.of(StateType.PENDING), supervisor="s1")
        second = plane.set_state(run.id, State.of(StateType.PENDING), supervisor="s2")
        assert first.status is ACCEPT and first.state is not None
        assert first.state.type is StateType.PENDING
        assert second.status is ABORT and second.reason
        assert second.state is not None and second.state.type is StateType.PENDING
        assert plane.read_run(run.id).supervisor == "s1"

    def test_racing_claims_one_winner(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        runs = [plane.create_run("etl") for _ in range(5)]
        barrier = threading.Barrier(6)

        def claim(name: str) -> list[OrchestrationStatus]:
            barrier.wait(timeout=10)
            return [plane.set_state(r.id, State.of(StateType.PENDING), supervisor=name).status
                    for r in runs]

        with ThreadPoolExecutor(6) as pool:
            outcomes = list(pool.map(claim, [f"s{i}" for i in range(6)]))
        for index in range(len(runs)):
            assert [o[index] for o in outcomes].count(ACCEPT) == 1

    def test_fields_set_on_accept(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = plane.create_run("etl")
        plane.set_state(run.id, State.of(StateType.PENDING), supervisor="s1")
        plane.set_state(run.id, State.of(StateType.RUNNING), pid=4242, commit="abc123")
        running = plane.read_run(run.id)
        assert running.pid == 4242 and running.commit == "abc123" and is_utc(running.start_time)
        plane.set_state(run.id, State.of(StateType.CRASHED, "killed by SIGKILL"), exit_code=-9)
        done = plane.read_run(run.id)
        assert done.exit_code == -9 and is_utc(done.end_time) and done.supervisor == "s1"
        assert done.state.message == "killed by SIGKILL" and done.state.name == "Crashed"
        assert done.end_time >= done.start_time  # type: ignore[operator]

    @pytest.mark.parametrize("terminal", sorted(t for t in StateType if t.is_terminal))
    def test_terminal_runs_abort_unless_forced(
        self, plane: ControlPlane, terminal: StateType
    ) -> None:
        plane.register_deployments([deployment()])
        run = self.walk(plane, plane.create_run("etl"), terminal)
        for proposal in (StateType.PENDING, StateType.RUNNING, StateType.COMPLETED):
            answer = plane.set_state(run.id, State.of(proposal), pid=1)
            assert answer.status is ABORT and answer.state is not None
            assert answer.state.type is terminal
        assert plane.read_run(run.id).state.type is terminal
        assert plane.read_run(run.id).pid == run.pid
        forced = plane.set_state(run.id, State.of(StateType.CRASHED, "fixed"), force=True)
        assert forced.status is ACCEPT
        assert plane.read_run(run.id).state.type is StateType.CRASHED

    def test_running_is_aborted_when_cancelled_before_start(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = self.walk(plane, plane.create_run("etl"), StateType.PENDING)
        assert plane.request_cancel(run.id).state.type is StateType.CANCELLED
        assert plane.set_state(run.id, State.of(StateType.RUNNING)).status is ABORT

    def test_running_is_aborted_while_cancelling(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = self.walk(plane, plane.create_run("etl"), StateType.CANCELLING)
        assert plane.set_state(run.id, State.of(StateType.RUNNING)).status is ABORT
        ended = plane.set_state(run.id, State.of(StateType.CANCELLED, "tree ended"))
        assert ended.status is ACCEPT

    def test_idempotency_key_applies_once(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = plane.create_run("etl")
        claim = State.of(StateType.PENDING)
        first = plane.set_state(run.id, claim, supervisor="s1", idempotency_key="claim-1")
        plane.set_state(run.id, State.of(StateType.RUNNING), idempotency_key="run-1")
        states = plane.read_states(run.id)
        retried = plane.set_state(run.id, claim, supervisor="s1", idempotency_key="claim-1")
        assert first.status is ACCEPT and retried == first
        assert plane.read_states(run.id) == states
        assert plane.read_run(run.id).state.type is StateType.RUNNING
        other = plane.set_state(run.id, claim, supervisor="s1", idempotency_key="claim-2")
        assert other.status is ABORT

    def test_idempotency_keys_are_per_run(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        one, two = plane.create_run("etl"), plane.create_run("etl")
        assert plane.set_state(one.id, State.of(StateType.PENDING), idempotency_key="k").accepted
        assert plane.set_state(two.id, State.of(StateType.PENDING), idempotency_key="k").accepted
        assert plane.read_run(two.id).state.type is StateType.PENDING

    def test_a_batch_of_proposals_is_applied_in_order_and_once(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        one, two = plane.create_run("etl"), plane.create_run("etl")
        missing = uuid.uuid4()
        batch = [
            Proposal(one.id, State.of(StateType.PENDING), "one:pending", supervisor="s1"),
            Proposal(two.id, State.of(StateType.PENDING), "two:pending", supervisor="s1"),
            Proposal(one.id, State.of(StateType.RUNNING), "one:running", pid=41),
            Proposal(missing, State.of(StateType.RUNNING), "missing:running"),
            Proposal(one.id, State.of(StateType.COMPLETED), "one:terminal", exit_code=0),
            Proposal(two.id, State.of(StateType.RUNNING), "two:running", pid=42),
        ]
        outcomes, down = propose_all(plane, batch)
        assert down is None and len(outcomes) == len(batch)
        assert isinstance(outcomes[3], RunNotFound)  # refused alone; the rest applied
        assert all(o.status is ACCEPT for o in outcomes if not isinstance(o, RunNotFound))
        assert [s.type for s in plane.read_states(one.id)] == [
            StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING, StateType.COMPLETED]
        first = plane.read_run(one.id)
        assert (first.pid, first.exit_code, first.supervisor) == (41, 0, "s1")
        assert plane.read_run(two.id).state.type is StateType.RUNNING
        # A batch sent again (its answer was lost) applies nothing twice and answers the same
        states = plane.read_states(one.id)
        again, down = propose_all(plane, batch)
        assert down is None
        assert [o for o in again if not isinstance(o, RunNotFound)] == [
            o for o in outcomes if not isinstance(o, RunNotFound)]
        assert plane.read_states(one.id) == states

    def test_unknown_run_is_not_found(self, plane: ControlPlane) -> None:
        missing = uuid.uuid4()
        for call in (
            lambda: plane.read_run(missing),
            lambda: plane.read_states(missing),
            lambda: plane.request_cancel(missing),
            lambda: plane.set_state(missing, State.of(StateType.PENDING)),
        ):
            with pytest.raises(RunNotFound):
                call()

    # -- cancellation ----------------------------------------------------------------------

    @pytest.mark.parametrize(("before", "after"), [
        (StateType.SCHEDULED, StateType.CANCELLED),
        (StateType.PENDING, StateType.CANCELLED),
        (StateType.RUNNING, StateType.CANCELLING),
        (StateType.CANCELLING, StateType.CANCELLING),
        (StateType.COMPLETED, StateType.COMPLETED),
        (StateType.FAILED, StateType.FAILED),
        (StateType.CRASHED, StateType.CRASHED),
        (StateType.CANCELLED, StateType.CANCELLED),
    ])
    def test_request_cancel_on_every_state(
        self, plane: ControlPlane, before: StateType, after: StateType
    ) -> None:
        plane.register_deployments([deployment()])
        run = self.walk(plane, plane.create_run("etl"), before)
        history = plane.read_states(run.id)
        answer = plane.request_cancel(run.id)
        assert answer.state.type is after and plane.read_run(run.id).state.type is after
        grew = len(plane.read_states(run.id)) - len(history)
        assert grew == (0 if after is before else 1)
        if after is StateType.CANCELLED:
            assert is_utc(answer.end_time)

    def test_read_cancelling_runs(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        running = self.walk(plane, plane.create_run("etl"), StateType.RUNNING)
        cancelling = self.walk(plane, plane.create_run("etl"), StateType.CANCELLING)
        done = self.walk(plane, plane.create_run("etl"), StateType.COMPLETED)
        ids = [running.id, cancelling.id, done.id, uuid.uuid4()]
        assert [r.id for r in plane.read_cancelling_runs(ids)] == [cancelling.id]
        assert plane.read_cancelling_runs([]) == []

    # -- reading runs and history ----------------------------------------------------------

    def test_read_runs_newest_first_with_filters(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment("a"), deployment("b")])
        a1 = plane.create_run("a", scheduled_time=now - timedelta(minutes=3))
        b1 = plane.create_run("b", scheduled_time=now - timedelta(minutes=2))
        a2 = plane.create_run("a", scheduled_time=now - timedelta(minutes=1))
        plane.set_state(a1.id, State.of(StateType.PENDING), supervisor="edge-1")
        plane.set_state(b1.id, State.of(StateType.PENDING), supervisor="edge-2")
        assert [r.id for r in plane.read_runs()] == [a2.id, b1.id, a1.id]
        assert [r.id for r in plane.read_runs(deployment="a")] == [a2.id, a1.id]
        assert [r.id for r in plane.read_runs(states=[StateType.PENDING])] == [b1.id, a1.id]
        assert [r.id for r in plane.read_runs(supervisor="edge-2")] == [b1.id]
        assert [r.id for r in plane.read_runs(deployment="a", states=[StateType.SCHEDULED])] == [
            a2.id]
        assert [r.id for r in plane.read_runs(limit=2)] == [a2.id, b1.id]
        assert plane.read_runs(deployment="nope") == []
        assert plane.read_runs(states=[]) == []

    def test_every_transition_is_kept(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = plane.create_run("etl")
        plane.set_state(run.id, State.of(StateType.PENDING, "claimed"), supervisor="s1")
        plane.set_state(run.id, State.of(StateType.RUNNING, "pid 7"), pid=7)
        plane.set_state(run.id, State.of(StateType.PENDING, "again"))  # ABORT: not kept
        plane.set_state(run.id, State.of(StateType.COMPLETED, "exit 0"), exit_code=0)
        states = plane.read_states(run.id)
        assert [(s.type, s.message) for s in states] == [
            (StateType.SCHEDULED, ""), (StateType.PENDING, "claimed"),
            (StateType.RUNNING, "pid 7"), (StateType.COMPLETED, "exit 0")]
        assert all(is_utc(s.timestamp) for s in states)
        assert [s.timestamp for s in states] == sorted(s.timestamp for s in states)

    # -- retries (issue 14) ----------------------------------------------------------------

    def test_each_attempt_that_runs_counts(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = plane.create_run("etl")
        assert run.run_count == 0
        self.walk(plane, run, StateType.RUNNING)
        assert plane.read_run(run.id).run_count == 1

    def test_awaiting_retry_makes_the_same_run_due_again_later(
        self, plane: ControlPlane, clock: Clock, now: datetime
    ) -> None:
        # Given a run whose first attempt failed
        plane.register_deployments([deployment()])
        run = self.walk(plane, plane.create_run("etl"), StateType.RUNNING)
        # When it is put back to SCHEDULED "AwaitingRetry", due a little later
        delay = 60 if isinstance(clock, FakeClock) else 3  # a real server's clock cannot jump
        again = now + timedelta(seconds=delay)
        retry = State.of(StateType.SCHEDULED, f"retry 1 of 3 in {delay}s", "AwaitingRetry")
        assert plane.set_state(run.id, retry, idempotency_key="r1", scheduled_time=again).accepted
        # Then it is not due before its new time, and is due then, as the same run
        assert plane.read_scheduled_runs(["etl"], now, 10) == []
        (due,) = plane.read_scheduled_runs(["etl"], again, 10)
        assert (due.id, due.state.name, due.run_count) == (run.id, "AwaitingRetry", 1)
        assert due.scheduled_time == again
        # And its next attempt, at that time, counts as the second
        if isinstance(clock, FakeClock):
            clock.advance(delay + 1)
        assert plane.set_state(run.id, State.of(StateType.PENDING), supervisor="s1").accepted
        # (a server may hold RUNNING until the run's time: WAIT, as for any early start)
        wait_until(lambda: plane.set_state(run.id, State.of(StateType.RUNNING), pid=43).accepted,
                   delay + 10, interval=0.5)
        assert plane.read_run(run.id).run_count == 2

    def test_a_retry_due_on_a_schedule_slot_does_not_clash(
        self, plane: ControlPlane, clock: Clock
    ) -> None:
        plane.register_deployments([deployment(interval=60)])
        (run,) = plane.read_scheduled_runs(["etl"], clock.now() + timedelta(seconds=60), 10)
        self.walk(plane, run, StateType.RUNNING)
        again = run.scheduled_time + timedelta(seconds=60)  # the next slot's very time
        retry = State.of(StateType.SCHEDULED, "", "AwaitingRetry")
        assert plane.set_state(run.id, retry, scheduled_time=again).accepted
        due = plane.read_scheduled_runs(["etl"], again, 10)
        assert len(due) == 2 and run.id in {r.id for r in due}
        # a retry has left its slot: a schedule change does not drop it
        plane.register_deployments([deployment(interval=300)])
        assert run.id in {r.id for r in plane.read_scheduled_runs(["etl"], again, 10)}

    def test_a_waiting_retry_is_held_while_paused(
        self, plane: ControlPlane, now: datetime
    ) -> None:
        plane.register_deployments([deployment()])
        run = self.walk(plane, plane.create_run("etl"), StateType.RUNNING)
        plane.set_state(run.id, State.of(StateType.SCHEDULED, "", "AwaitingRetry"),
                        scheduled_time=now)
        plane.set_paused("etl", True)
        assert plane.read_scheduled_runs(["etl"], now, 10) == []
        plane.set_paused("etl", False)
        assert [r.id for r in plane.read_scheduled_runs(["etl"], now, 10)] == [run.id]

    def test_a_finished_run_can_be_forced_back_to_scheduled(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment()])
        run = self.walk(plane, plane.create_run("etl"), StateType.FAILED)
        retry = State.of(StateType.SCHEDULED, "retry requested", "AwaitingRetry")
        assert not plane.set_state(run.id, retry).accepted
        assert plane.set_state(run.id, retry, force=True, scheduled_time=run.scheduled_time
                               ).accepted
        assert plane.read_run(run.id).state.type is StateType.SCHEDULED

    def test_late_after_is_the_deployments_own(self, plane: ControlPlane, clock: Clock) -> None:
        plane.register_deployments([deployment("slow", late_after=120), deployment("fast")])
        slow, fast = plane.create_run("slow"), plane.create_run("fast")
        self.advance(clock, 60)
        assert plane.read_run(slow.id).state.name == "Scheduled"
        assert plane.read_run(fast.id).state.name == "Late"  # the default: 15 s
        self.advance(clock, 61)
        assert plane.read_run(slow.id).state.name == "Late"

    # -- concurrency (issue 14) ------------------------------------------------------------

    def test_a_claim_past_the_concurrency_limit_waits(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment(concurrency=1), deployment("free")])
        first, second = plane.create_run("etl"), plane.create_run("etl")
        assert plane.set_state(first.id, State.of(StateType.PENDING), supervisor="s1").accepted
        waited = plane.set_state(second.id, State.of(StateType.PENDING), supervisor="s2")
        assert waited.status is OrchestrationStatus.WAIT and waited.retry_after
        assert "concurrency limit" in waited.reason
        assert plane.read_run(second.id).state.type is StateType.SCHEDULED
        other = plane.create_run("free")  # another deployment is not held up
        assert plane.set_state(other.id, State.of(StateType.PENDING), supervisor="s2").accepted
        # once the first has ended, the second may be claimed
        plane.set_state(first.id, State.of(StateType.RUNNING))
        assert not plane.set_state(second.id, State.of(StateType.PENDING)).accepted
        plane.set_state(first.id, State.of(StateType.COMPLETED))
        assert plane.set_state(second.id, State.of(StateType.PENDING), supervisor="s2").accepted

    def test_cancel_new_cancels_a_claim_past_the_limit(self, plane: ControlPlane) -> None:
        plane.register_deployments([deployment(concurrency=1, collision="cancel-new")])
        first, second = plane.create_run("etl"), plane.create_run("etl")
        assert plane.set_state(first.id, State.of(StateType.PENDING), supervisor="s1").accepted
        refused = plane.set_state(second.id, State.of(StateType.PENDING), supervisor="s2")
        assert refused.status is ABORT
        found = plane.read_run(second.id)
        assert found.state.type is StateType.CANCELLED
        assert "concurrency limit" in found.state.message
