"""Real processes sharing one SQLite file: claims never both win, slots are made once, and
two writers with a reader never see an error ("database is locked" or any other)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from supervisor.controlplane.local import LocalControlPlane
from tests.controlplane.contract import deployment

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def run_together(*commands: list[str], timeout: float = 60) -> list[dict[str, Any]]:
    """Start every worker, wait until each is ready, release them at once, collect their JSON."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.controlplane.worker", *argv], cwd=ROOT, text=True,
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for argv in commands
    ]
    try:
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write("go\n")
            proc.stdin.flush()
        outputs = [proc.communicate(timeout=timeout) for proc in procs]
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0 and err == "", err
    return [json.loads(out) for out, _ in outputs]


def test_two_supervisors_never_claim_the_same_run(tmp_path: Path) -> None:
    # Given 300 due runs in one file
    db = tmp_path / "state.db"
    plane = LocalControlPlane(db)
    plane.register_deployments([deployment()])
    ids = {str(plane.create_run("etl").id) for _ in range(300)}
    plane.close()
    # When two processes claim all of them, in the same order, at the same moment
    first, second = run_together(["claim", str(db), "1"], ["claim", str(db), "2"])
    # Then every run is won exactly once
    assert set(first["won"]).isdisjoint(second["won"])
    assert set(first["won"]) | set(second["won"]) == ids
    plane = LocalControlPlane(db)
    claimers = Counter(r.supervisor for r in plane.read_runs(limit=1000))
    plane.close()
    assert first["seen"] == second["seen"] == 300  # both tried every run
    assert claimers == Counter({"claimer-1": len(first["won"]), "claimer-2": len(second["won"])})


def test_two_processes_materialise_each_slot_once(tmp_path: Path) -> None:
    db = tmp_path / "state.db"
    plane = LocalControlPlane(db)
    plane.register_deployments([deployment("ticker", interval=1)])
    plane.close()
    first, second = run_together(*[["materialise", str(db)] for _ in range(3)])[:2]
    plane = LocalControlPlane(db)
    times = [r.scheduled_time for r in plane.read_runs(deployment="ticker", limit=10_000)]
    plane.close()
    assert len(times) == len(set(times)) >= 599
    common = first["slots"].keys() & second["slots"].keys()
    assert len(common) >= 599
    assert all(first["slots"][t] == second["slots"][t] for t in common)


def test_two_writers_and_a_reader_on_a_new_file(tmp_path: Path) -> None:
    # Given no database yet: all three processes open (and create) it at once
    db = tmp_path / "new" / "state.db"
    writer_a, writer_b, reader = run_together(
        ["write", str(db), "60"], ["write", str(db), "60"], ["read", str(db), "120"])
    assert len(writer_a["made"]) == len(writer_b["made"]) == 60
    assert reader["done"] == 120
    plane = LocalControlPlane(db)
    runs = plane.read_runs(limit=1000)
    histories = {len(plane.read_states(r.id)) for r in runs}
    plane.close()
    assert len(runs) == 120 and histories <= {4, 5}
    assert {r.state.type.value for r in runs} == {"COMPLETED", "CANCELLED"}
