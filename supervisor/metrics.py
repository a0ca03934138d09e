"""Prometheus metrics of one supervisor, in a registry of its own (two embedded supervisors in one
process must not share counters). prometheus-client renders the text format for `GET /metrics`."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.runs_started = Counter(
            "supervisor_runs_started", "Runs whose process was started.", registry=r
        )
        self.runs_finished = Counter(
            "supervisor_runs_finished", "Runs that reached a terminal state.", ["state"], registry=r
        )
        self.runs_in_flight = Gauge(
            "supervisor_runs_in_flight", "Runs holding a slot now.", registry=r
        )
        self.slots_free = Gauge("supervisor_slots_free", "Free concurrency slots.", registry=r)
        self.poll_seconds = Histogram(
            "supervisor_poll_duration_seconds",
            "Time one control-plane poll took.",
            ["poller"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=r,
        )
        self.poll_errors = Counter(
            "supervisor_poll_errors", "Polls that failed.", ["poller"], registry=r
        )
        self.kill_escalations = Counter(
            "supervisor_kill_escalations",
            "Process trees that needed SIGKILL after the grace.",
            registry=r,
        )
        self.run_logs_truncated = Counter(
            "supervisor_run_logs_truncated",
            "Runs whose log could not hold all their output (a full disk, an I/O error).",
            registry=r,
        )
        self.actor_restarts = Counter(
            "supervisor_actor_restarts", "Child actors restarted.", ["actor"], registry=r
        )
        # the run policies (supervisor/policies)
        self.run_retries = Counter(
            "supervisor_run_retries", "Attempts that ended in a retry.", ["deployment"], registry=r
        )
        self.runs_late = Counter(
            "supervisor_runs_late", "Runs started later than late_after.", ["deployment"],
            registry=r,
        )
        self.runs_skipped = Counter(
            "supervisor_runs_skipped", "Runs cancelled by skip_late_after.", ["deployment"],
            registry=r,
        )
        self.hook_failures = Counter(
            "supervisor_hook_failures", "Hooks that failed or timed out.", ["deployment", "hook"],
            registry=r,
        )
        self.deployment_in_flight = Gauge(
            "supervisor_deployment_runs_in_flight", "Runs of one deployment holding a slot now.",
            ["deployment"], registry=r,
        )

    def track_slots(self, in_flight: Callable[[], float], free: Callable[[], float]) -> None:
        """Read the slot gauges from the root's live numbers when scraped."""
        self.runs_in_flight.set_function(in_flight)
        self.slots_free.set_function(free)

    def render(self) -> bytes:
        return generate_latest(self.registry)
