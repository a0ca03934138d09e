"""The schedule poller and the root's slots on a fake clock: on time, in order, within limit."""

from __future__ import annotations

from supervisor.errors import ControlPlaneError, ControlPlaneUnavailable
from supervisor.models import State, StateType
from tests.actors.harness import start_harness
from tests.waiting import wait_until

ON_DEMAND = {"name": "job", "command": ["prog"]}


def test_a_run_scheduled_ahead_starts_at_its_time_not_early(tmp_path):
    # Given a run due in 5 s, read by the first poll (prefetch 10 s)
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        run = h.create_run("job", in_seconds=5)
        h.sup.nudge()
        wait_until(lambda: h.sup.board.get("schedule-poller")["owns"].get("timers") == 1)
        # When time reaches just before its slot
        h.advance(4.9)
        assert h.in_flight() == 0 and h.state(run) is StateType.SCHEDULED
        # Then, a moment before it, it is claimed and its actor waits for the time
        h.advance(0.06)
        armed = f"run-{run.id}"
        wait_until(lambda: (h.sup.board.get(armed) or {}).get("owns", {}).get("phase") == "armed")
        assert h.state(run) is StateType.PENDING and not h.launcher.processes
        # And at the slot itself it is started
        h.advance(0.05)
        process = h.process(run)
        assert process.spec.argv == ("prog",)
        assert h.wait_state(run, StateType.RUNNING).pid == process.pid
    finally:
        h.sup.stop()


def test_due_runs_start_oldest_first_and_never_beyond_the_limit(tmp_path):
    h = start_harness(tmp_path, [ON_DEMAND], limit=2)
    try:
        runs = [h.create_run("job", in_seconds=-10 + i) for i in range(5)]
        h.sup.nudge()
        wait_until(lambda: len(h.launcher.processes) == 2)
        h.barrier()
        assert set(h.launcher.processes) == {str(runs[0].id), str(runs[1].id)}
        assert h.in_flight() == 2
        # When one finishes, the next waiting run starts at once (no poll tick needed)
        h.launcher.processes[str(runs[0].id)].exit(0)
        wait_until(lambda: str(runs[2].id) in h.launcher.processes)
        assert len(h.launcher.live()) == 2
        for run in runs[1:]:
            h.process(run).exit(0)
        wait_until(lambda: all(h.state(r) is StateType.COMPLETED for r in runs))
        wait_until(lambda: h.in_flight() == 0, message="slots freed (the root hears it apart)")
        assert h.sup.board.get("supervisor")["owns"]["waiting"] == 0
    finally:
        h.sup.stop()


def test_slots_are_all_free_after_mixed_outcomes(tmp_path):
    h = start_harness(tmp_path, [{**ON_DEMAND, "timeout": 30}], limit=3)
    try:
        ok, bad, cancelled, timed_out, unstartable = (h.create_run("job") for _ in range(5))
        h.launcher.cannot_start[str(unstartable.id)] = "[Errno 2] No such file: 'prog'"
        h.sup.nudge()
        wait_until(lambda: len(h.launcher.processes) == 3)
        for run in (ok, bad, cancelled, timed_out, unstartable):
            wait_until(
                lambda r=run: (
                    str(r.id) in h.launcher.processes
                    and (h.launcher.processes[str(r.id)].done or h.state(r) is StateType.RUNNING)
                )
            )
            if run is ok:
                h.process(run).exit(0)
            elif run is bad:
                h.process(run).exit(3)
            elif run is cancelled:
                h.plane.request_cancel(run.id)
                h.sup.nudge()
                # before the clock moves: else its 30 s timeout may end it first (TimedOut)
                wait_until(lambda r=run: h.process(r).terminations, message="cancel delivered")
            elif run is timed_out:  # its timer may be armed just after RUNNING is seen
                h.advance_until(lambda r=run: h.state(r) is StateType.FAILED, step=30)
        expected = {
            ok.id: StateType.COMPLETED,
            bad.id: StateType.CRASHED,
            cancelled.id: StateType.CANCELLED,
            timed_out.id: StateType.FAILED,
            unstartable.id: StateType.CRASHED,
        }
        for run in (ok, bad, cancelled, timed_out, unstartable):
            h.wait_state(run, expected[run.id])
        wait_until(lambda: h.in_flight() == 0, message="all slots free")
        assert "could not start" in h.plane.read_run(unstartable.id).state.message
        assert h.plane.read_run(timed_out.id).state.name == "TimedOut"
    finally:
        h.sup.stop()


def test_a_run_another_supervisor_claimed_is_skipped(tmp_path):
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        run = h.create_run("job", in_seconds=3)
        h.sup.nudge()
        wait_until(lambda: h.sup.board.get("schedule-poller")["owns"].get("timers") == 1)
        # Another supervisor takes it first
        assert h.plane.set_state(run.id, State.of(StateType.PENDING), supervisor="other").accepted
        h.advance(3)
        wait_until(lambda: h.in_flight() == 0)
        assert str(run.id) not in h.launcher.processes
        assert h.plane.read_run(run.id).supervisor == "other"
    finally:
        h.sup.stop()


def test_parameters_and_identity_reach_the_process_environment(tmp_path):
    h = start_harness(tmp_path, [{**ON_DEMAND, "parameters": {"who": "world", "n": 1}}])
    try:
        run = h.create_run("job", n=2)
        h.sup.nudge()
        env = h.process(run).spec.env
        assert env["SUPERVISOR_RUN_ID"] == str(run.id)
        assert env["SUPERVISOR_DEPLOYMENT"] == "job"
        assert env["SUPERVISOR_PARAMETERS"] == '{"who": "world", "n": 2}'
        h.process(run).exit(0)
        h.wait_state(run, StateType.COMPLETED)
    finally:
        h.sup.stop()


def test_the_board_shows_a_running_run_as_running(tmp_path):
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        process = h.process(run)
        h.wait_state(run, StateType.RUNNING)
        shown = wait_until(
            lambda: next(
                (r for r in h.sup.runs_in_flight() if r["state"]["type"] == "RUNNING"), None
            )
        )
        assert shown["id"] == str(run.id)
        assert shown["pid"] == process.pid and shown["supervisor"] == "unit"
        assert shown["start_time"] is not None
        process.exit(0)
        h.wait_state(run, StateType.COMPLETED)
    finally:
        h.sup.stop()


def test_health_is_not_ok_before_the_pollers_run(tmp_path):
    from supervisor.system import Supervisor
    from tests.actors.harness import make_settings

    sup = Supervisor(make_settings(tmp_path, [ON_DEMAND]))
    ok, reason = sup.health()
    assert not ok and "has not started" in reason


def test_a_finished_run_offered_again_by_a_lagging_control_plane_is_not_run_twice(
        tmp_path, monkeypatch):
    # Given a run that ran to COMPLETED
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        run = h.create_run("job")
        h.sup.nudge()
        h.process(run).exit(0)
        h.wait_state(run, StateType.COMPLETED)
        wait_until(lambda: h.in_flight() == 0)
        # When a lagging read offers it as due again (a Prefect server on SQLite can)
        launched: list[str] = []
        h.launcher.on_launch = lambda spec: launched.append(spec.run_id)
        real = h.plane.read_scheduled_runs
        monkeypatch.setattr(h.plane, "read_scheduled_runs",
                            lambda names, before, limit: [run, *real(names, before, limit)])
        polls = h.sup.board.get("schedule-poller")["last_tick"]
        h.sup.nudge()
        wait_until(lambda: h.sup.board.get("schedule-poller")["last_tick"] != polls or
                   h.advance(1.0), message="another poll")
        h.barrier()
        # Then it is not started again
        assert launched == [] and h.in_flight() == 0
    finally:
        h.sup.stop()


def test_a_run_whose_claim_failed_is_taken_again_by_a_later_poll(tmp_path):
    # Given a claim the control plane refuses once (an error the actor does not ask again:
    # a claim whose answer was lost is asked again by its actor, see the next test)
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        run = h.create_run("job")
        h.plane.fail_next(1, ControlPlaneError("memory: refused"), only={"set_state"})
        h.sup.nudge()
        # When a later poll offers it again, it is claimed and run
        h.advance_until(lambda: h.launcher.processes.get(str(run.id)), step=1.0)
        process = h.process(run)
        assert h.plane.calls.count("set_state") >= 2  # the failed claim, then the good one
        process.exit(0)
        h.wait_state(run, StateType.COMPLETED)
    finally:
        h.sup.stop()


def test_a_claim_that_landed_but_lost_its_answer_is_asked_again_and_the_run_runs(tmp_path):
    # Given a control plane that applies the next claim, then loses its answer (a Prefect server
    # that timed out after writing PENDING: no poll would offer that run again)
    h = start_harness(tmp_path, [ON_DEMAND])
    try:
        run = h.create_run("job")
        real, claims = h.plane.set_state, []

        def lossy(run_id, state, **kwargs):
            result = real(run_id, state, **kwargs)
            if state.type is StateType.PENDING:
                claims.append(kwargs.get("idempotency_key"))
                if len(claims) == 1:
                    raise ControlPlaneUnavailable("timed out after writing")
            return result

        h.plane.set_state = lossy  # type: ignore[method-assign]
        h.sup.nudge()
        # When its actor asks again after a backoff, with the same key
        h.advance_until(lambda: h.launcher.processes.get(str(run.id)), step=1.0)
        process = h.process(run)
        assert len(claims) == 2 and claims[0] == claims[1]
        # Then it runs to its end, once
        process.exit(0)
        h.wait_state(run, StateType.COMPLETED)
        assert [p.spec.run_id for p in h.launcher.launched] == [str(run.id)]
    finally:
        h.sup.stop()


def test_a_shutdown_does_not_wait_on_a_claim_that_gets_no_answer(tmp_path):
    # Given a claim the control plane never answers, asked again and again
    h = start_harness(tmp_path, [ON_DEMAND])
    stopped = False
    try:
        run = h.create_run("job")
        h.plane.fail_next(1000, only={"set_state"})
        h.sup.nudge()
        wait_until(lambda: h.plane.calls.count("set_state") >= 1, message="the first claim")
        h.advance(1.0)
        wait_until(lambda: h.plane.calls.count("set_state") >= 2, message="asked again")
        # When the supervisor stops, its run actor ends without the claim's answer
        h.plane.heal()
        h.sup.stop(timeout=10)
        stopped = True
        assert h.sup.exit_code == 0 and h.in_flight() == 0
        assert h.launcher.launched == [] and h.plane.read_run(run.id).state.type in (
            StateType.SCHEDULED, StateType.PENDING)
    finally:
        if not stopped:
            h.sup.stop()
