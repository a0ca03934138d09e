"""scripts/bench keeps its interface: one cheap figure in quick mode prints the JSON the issue
asks for. Benchmarks are not tests: nothing here looks at how fast anything was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "scripts" / "bench"


def bench(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=120
    )


def test_quick_json_of_one_figure_has_the_issue_shape():
    done = bench("--quick", "--only", "cancel_latency_ms", "--json")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["mode"] == "quick"
    latency = out["cancel_latency_ms"]
    assert set(latency) == {"p50", "p95", "n"}
    assert latency["n"] > 0
    assert all(isinstance(latency[k], float | int) for k in ("p50", "p95"))
    assert {"cores", "memory_gib", "python", "kernel"} <= set(out["machine"])
    assert set(out["baseline"]["popen_to_exec_ms"]) == {"p50", "p95", "n"}
    assert "cancel_latency_ms" in out["methods"]
    assert "scale" not in out and "burst_drain_ratio" not in out  # --only means only
    assert out["leftovers"] == 0 and out["stray_processes"] == 0


def test_write_readme_refuses_a_partial_run():
    done = bench("--quick", "--write-readme")
    assert done.returncode == 2
    assert "--write-readme needs a full run" in done.stderr


def test_an_unknown_figure_is_a_usage_error():
    done = bench("--only", "warp_speed")
    assert done.returncode == 2
    assert "warp_speed" in done.stderr
