"""The run policies on a fake clock: retries, per-deployment concurrency, late runs, hooks."""

from __future__ import annotations

from datetime import timedelta

from supervisor.models import State, StateType
from supervisor.process import ExitReason
from tests.actors.fakes import FakeProcess
from tests.actors.harness import Harness, start_harness
from tests.waiting import wait_until

JOB = {"name": "job", "command": ["prog"]}


def attempts(h: Harness, run_id: object, count: int) -> list[FakeProcess]:
    """Wait for the `count`-th process of this run (attempts and hooks share the run's id)."""
    return wait_until(
        lambda: (found := [p for p in h.launcher.launched if p.run_id == str(run_id)])
        and len(found) >= count and found,
        5, message=f"{count} processes of {run_id}")


def sample(h: Harness, name: str, **labels: str) -> float:
    value = h.sup.metrics.registry.get_sample_value(name, labels)
    return value or 0.0


def test_a_failing_run_is_retried_after_each_delay_until_it_succeeds(tmp_path):
    # Given a deployment with 2 retries, 10 s then 60 s apart
    h = start_harness(tmp_path, [{**JOB, "retries": 2, "retry_delay": [10, 60]}])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        # When the first attempt fails
        attempts(h, run.id, 1)[0].exit(1)
        # Then the same run waits as SCHEDULED "AwaitingRetry", due 10 s later
        again = h.wait_state(run, StateType.SCHEDULED)
        assert again.state.name == "AwaitingRetry" and again.run_count == 1
        assert again.scheduled_time == h.clock.now() + timedelta(seconds=10)
        assert "retry 1 of 2 in 10s" in again.state.message
        h.advance(9)
        assert len(h.launcher.launched) == 1  # a timer, not at once
        h.advance(1.5)
        second = attempts(h, run.id, 2)[1]
        assert h.wait_state(run, StateType.RUNNING).run_count == 2
        second.exit(3)
        due = h.wait_state(run, StateType.SCHEDULED).scheduled_time
        assert due == h.clock.now() + timedelta(seconds=60)
        h.advance(61)
        attempts(h, run.id, 3)[2].exit(0)
        # And the third attempt completes it: one run, three attempts, two retries counted
        done = h.wait_state(run, StateType.COMPLETED)
        assert done.run_count == 3
        assert sample(h, "supervisor_run_retries_total", deployment="job") == 2
        names = [s.name for s in h.plane.read_states(run.id)]
        assert names.count("AwaitingRetry") == 2 and names.count("Running") == 3
    finally:
        h.sup.stop()


def test_out_of_retries_the_run_fails_and_a_cancelled_run_is_never_retried(tmp_path):
    h = start_harness(tmp_path, [{**JOB, "retries": 1, "retry_on": ["crashed"]}])
    try:
        run, other = h.create_run("job"), h.create_run("job")
        h.sup.nudge()
        attempts(h, run.id, 1)[0].exit(1)  # retried with no delay: due at once

        def second_attempt() -> FakeProcess | None:
            h.advance(0.01)  # the retry's actor is armed for its due time
            found = [p for p in h.launcher.launched if p.run_id == str(run.id)]
            return found[1] if len(found) > 1 else None

        wait_until(second_attempt, 5, message="the second attempt").exit(1)
        final = h.wait_state(run, StateType.CRASHED)
        assert final.run_count == 2
        # A cancel is final, retries or not
        attempts(h, other.id, 1)
        h.plane.request_cancel(other.id)
        h.advance(0.6)
        h.wait_state(other, StateType.CANCELLED)
        h.advance(5)
        assert h.state(other) is StateType.CANCELLED
        assert len([p for p in h.launcher.launched if p.run_id == str(other.id)]) == 1
    finally:
        h.sup.stop()


def test_concurrency_1_holds_while_five_runs_are_due_and_others_go_on(tmp_path):
    # Given "etl" limited to one run at once, five of its runs due, and an unlimited deployment
    h = start_harness(tmp_path, [{**JOB, "name": "etl", "concurrency": 1}, JOB], limit=4)
    try:
        runs = [h.create_run("etl", in_seconds=-5 + i) for i in range(5)]
        free = h.create_run("job")
        h.sup.nudge()
        attempts(h, free.id, 1)
        # Then one etl run at a time, oldest first, while the other deployment is not held up
        for index, run in enumerate(runs):
            # the next claim may be told to WAIT while the last end is still being reported
            process = wait_until(lambda r=run: h.advance(0.3) or next(
                (p for p in h.launcher.launched if p.run_id == str(r.id)), None), 5)
            h.barrier()
            live = [p for p in h.launcher.live() if p.run_id != str(free.id)]
            assert [p.run_id for p in live] == [str(run.id)]
            assert sample(h, "supervisor_deployment_runs_in_flight", deployment="etl") == 1
            assert all(h.state(r) is StateType.SCHEDULED for r in runs[index + 1:])
            process.exit(0)
        wait_until(lambda: all(h.state(r) is StateType.COMPLETED for r in runs))
        # the slot is freed once the landed end reaches the actor, then the root: apart
        wait_until(lambda: sample(h, "supervisor_deployment_runs_in_flight", deployment="etl") == 0)
    finally:
        h.sup.stop()


def test_cancel_new_cancels_the_runs_due_at_the_limit(tmp_path):
    h = start_harness(tmp_path, [{**JOB, "concurrency": 1, "collision": "cancel-new"}])
    try:
        first = h.create_run("job", in_seconds=-2)
        late = [h.create_run("job", in_seconds=-1), h.create_run("job")]
        h.sup.nudge()
        attempts(h, first.id, 1)
        for run in late:
            found = h.wait_state(run, StateType.CANCELLED)
            assert found.state.message == (
                "cancelled: deployment job is at its concurrency limit (1 of 1 running)")
        h.wait_state(first, StateType.RUNNING)  # reported by the reporter, in its own time
        assert len(h.launcher.launched) == 1
    finally:
        h.sup.stop()


def test_a_run_missed_by_more_than_skip_late_after_is_skipped_not_run(tmp_path):
    # Given runs missed while the supervisor was down for 3 h, and one only 20 min late
    h = start_harness(tmp_path, [{**JOB, "late_after": 60, "skip_late_after": 3600}])
    try:
        old = [h.create_run("job", in_seconds=-s) for s in (3 * 3600, 2 * 3600, 3601)]
        recent = h.create_run("job", in_seconds=-1200)
        h.sup.nudge()
        # Then the old ones are CANCELLED "skipped", the recent one runs and counts as late
        for run in old:
            found = h.wait_state(run, StateType.CANCELLED)
            assert found.state.message.startswith("skipped: missed by ")
        assert "missed by 3h 0m (skip_late_after = 3600s)" in h.plane.read_run(
            old[0].id).state.message
        attempts(h, recent.id, 1)
        assert [p.run_id for p in h.launcher.launched] == [str(recent.id)]
        assert sample(h, "supervisor_runs_skipped_total", deployment="job") == 3
        assert sample(h, "supervisor_runs_late_total", deployment="job") == 1
    finally:
        h.sup.stop()


def test_hooks_run_with_the_runs_environment_and_are_ended_at_their_timeout(tmp_path):
    hooks = {"on_failure": ["notify", "failed"], "on_completion": ["notify", "ok"]}
    h = start_harness(tmp_path, [{**JOB, **hooks, "kill_grace": 0.5}])
    try:
        good, bad = h.create_run("job", answer=42), h.create_run("job")
        h.sup.nudge()
        attempts(h, good.id, 1)[0].exit(0)
        hook = attempts(h, good.id, 2)[1]
        env = hook.spec.env or {}
        assert hook.spec.argv == ("notify", "ok")
        assert env["SUPERVISOR_RUN_ID"] == str(good.id)
        assert env["SUPERVISOR_DEPLOYMENT"] == "job" and env["SUPERVISOR_STATE"] == "COMPLETED"
        assert env["SUPERVISOR_EXIT_CODE"] == "0" and env["SUPERVISOR_HOOK"] == "on_completion"
        assert env["SUPERVISOR_PARAMETERS"] == '{"answer": 42}'
        assert env["SUPERVISOR_LOG_PATH"].endswith(f"{good.id}.log")
        # The run's state is reported (told before its hook starts); a failing hook changes nothing
        h.wait_state(good, StateType.COMPLETED)
        hook.exit(1)
        wait_until(lambda: sample(
            h, "supervisor_hook_failures_total", deployment="job", hook="on_completion") == 1)
        # A hook that hangs is ended after kill_grace x 10
        attempts(h, bad.id, 1)[0].exit(2)
        stuck = attempts(h, bad.id, 2)[1]
        assert (stuck.spec.env or {})["SUPERVISOR_STATE"] == "CRASHED"
        stuck.stubborn = True  # type: ignore[attr-defined]
        h.advance(4.9)
        assert not stuck.terminations
        h.advance(0.2)
        wait_until(lambda: stuck.terminations)
        assert stuck.terminations[0][1] is ExitReason.TIMED_OUT
        stuck.end(ExitReason.TIMED_OUT, -9)
        wait_until(lambda: sample(
            h, "supervisor_hook_failures_total", deployment="job", hook="on_failure") == 1)
        wait_until(lambda: h.in_flight() == 0)
    finally:
        h.sup.stop()


def test_a_claim_told_to_wait_by_the_control_plane_is_retried_not_dropped(tmp_path):
    # Given another process sharing the control plane holds the deployment's only slot
    h = start_harness(tmp_path, [{**JOB, "concurrency": 1}])
    try:
        elsewhere, mine = h.create_run("job", in_seconds=-1), h.create_run("job")
        h.plane.set_state(elsewhere.id, State.of(StateType.PENDING), supervisor="other")
        h.plane.set_state(elsewhere.id, State.of(StateType.RUNNING))
        h.sup.nudge()
        # Then our run is queued (still SCHEDULED), claiming again every CONCURRENCY_WAIT s
        queued = f"run-{mine.id}"
        wait_until(lambda: (h.sup.board.get(queued) or {}).get("owns", {}).get("phase")
                   == "queued")
        h.advance(0.3)
        assert h.state(mine) is StateType.SCHEDULED and not h.launcher.launched
        # And once the other run ends, it is claimed and started
        h.plane.set_state(elsewhere.id, State.of(StateType.COMPLETED))
        h.advance(0.3)
        attempts(h, mine.id, 1)
        assert h.wait_state(mine, StateType.RUNNING).supervisor == "unit"
    finally:
        h.sup.stop()


def test_a_limited_deployments_slot_frees_once_the_end_is_reported_or_after_10s(tmp_path):
    # Given concurrency 1, two runs due, and a control plane refusing the first one's end once
    h = start_harness(tmp_path, [{**JOB, "concurrency": 1}])
    try:
        first, second = h.create_run("job", in_seconds=-1), h.create_run("job")
        h.sup.nudge()
        process = attempts(h, first.id, 1)[0]
        h.wait_state(first, StateType.RUNNING)
        h.plane.fail_next(1, only={"set_state"})
        process.exit(0)
        # Then the first keeps its slot while its end is not reported: no actor for the second
        name = f"run-{first.id}"
        wait_until(lambda: (h.sup.board.get(name) or {}).get("owns", {}).get("phase")
                   == "reporting")
        h.barrier()
        assert h.sup.board.get(f"run-{second.id}") is None
        # And once the report lands (the reporter's retry), the second goes
        h.advance(1.5)
        h.wait_state(first, StateType.COMPLETED)
        attempts(h, second.id, 1)
        # A report that does not land holds the slot REPORT_WAIT (10 s) at most
        h.wait_state(second, StateType.RUNNING)
        h.plane.fail_next(1000, only={"set_state"})
        attempts(h, second.id, 1)[0].exit(0)
        name = f"run-{second.id}"
        wait_until(lambda: (h.sup.board.get(name) or {}).get("owns", {}).get("phase")
                   == "reporting")
        h.advance(9)
        assert h.sup.board.get(name) is not None
        h.advance(1.5)
        wait_until(lambda: h.sup.board.get(name) is None and h.in_flight() == 0,
                   message="the slot freed")
    finally:
        h.plane.heal()  # or stopping would wait on the reporter's retries
        h.sup.stop()
