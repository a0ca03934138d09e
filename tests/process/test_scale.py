"""Many runs at once share the layer's few threads; ending them all at once leaves nothing."""

from __future__ import annotations

import threading

from supervisor.process import ExitReason
from tests.process.helpers import Started

RUNS = 40


def test_many_runs_share_four_threads_and_all_end_cleanly():
    before = threading.active_count()
    runs = [Started(("sh", "-c", "sleep 3600 & echo ready; wait")) for _ in range(RUNS)]
    for started in runs:
        started.wait_line("ready")
    assert threading.active_count() - before <= 4  # watcher, pump, timers, ender: not per run
    assert all(len(started.run.tree()) == 2 for started in runs)
    for started in runs:
        started.run.terminate(grace=5, reason=ExitReason.SHUTDOWN)
    results = [started.result() for started in runs]
    assert {r.reason for r in results} == {ExitReason.SHUTDOWN}
    assert sum(r.leftovers for r in results) == 0
    assert all(started.alive() == [] for started in runs)
