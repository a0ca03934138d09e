"""GET /metrics: Prometheus text that a Prometheus parser reads back."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.ops.fakes import FakeView


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_parse_and_carry_the_system_numbers(http: httpx.Client, view: FakeView) -> None:
    m = view.metrics
    m.runs_started.inc(3)
    m.runs_finished.labels(state="COMPLETED").inc(2)
    m.runs_finished.labels(state="CRASHED").inc()
    m.track_slots(lambda: 1.0, lambda: 3.0)
    m.poll_seconds.labels(poller="schedule").observe(0.004)
    m.poll_errors.labels(poller="cancel").inc()
    m.kill_escalations.inc()
    m.actor_restarts.labels(actor="schedule-poller").inc()

    response = http.get("/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}
    assert families["supervisor_runs_started"] == "counter"
    assert families["supervisor_poll_duration_seconds"] == "histogram"
    samples = _samples(response.text)
    assert samples[("supervisor_runs_started_total", ())] == 3
    assert samples[("supervisor_runs_finished_total", (("state", "COMPLETED"),))] == 2
    assert samples[("supervisor_runs_finished_total", (("state", "CRASHED"),))] == 1
    assert samples[("supervisor_runs_in_flight", ())] == 1
    assert samples[("supervisor_slots_free", ())] == 3
    assert samples[("supervisor_poll_duration_seconds_count", (("poller", "schedule"),))] == 1
    assert samples[("supervisor_poll_errors_total", (("poller", "cancel"),))] == 1
    assert samples[("supervisor_kill_escalations_total", ())] == 1
    assert samples[("supervisor_actor_restarts_total", (("actor", "schedule-poller"),))] == 1


def test_each_scrape_reads_live_values(http: httpx.Client, view: FakeView) -> None:
    in_flight = [0.0]
    view.metrics.track_slots(lambda: in_flight[0], lambda: 4 - in_flight[0])
    assert _samples(http.get("/metrics").text)[("supervisor_runs_in_flight", ())] == 0
    in_flight[0] = 2.0
    samples = _samples(http.get("/metrics").text)
    assert samples[("supervisor_runs_in_flight", ())] == 2
    assert samples[("supervisor_slots_free", ())] == 2
