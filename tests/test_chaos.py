"""scripts/chaos keeps its interface, and its counters count: a quick run prints the JSON line
the issue asks for, and a run that escapes on purpose is caught. Chaos runs are not tests of how
fast anything is: nothing here looks at a duration."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

CHAOS = Path(__file__).resolve().parents[1] / "scripts" / "chaos"
PROMISED = {  # scenario -> the figures it promises to hold at 0
    "cancels": {"processes_escaped"},
    "crash": {"runs_stuck_non_terminal", "leftovers", "runs_executed_twice"},
    "outage": {"reports_lost", "health_flaps"},
    "faults": {"slots_leaked", "runs_not_terminal"},
    "fuzz": {"tracebacks", "supervisor_deaths", "bad_exit_codes"},
}  # supervisor_deaths is counted in every scenario


def chaos(*args: str, timeout: float = 180) -> tuple[int, dict[str, Any], str]:
    done = subprocess.run([sys.executable, str(CHAOS), "--quick", "--seed", "7", *args],
                          capture_output=True, text=True, timeout=timeout)
    first = done.stdout.splitlines()[0] if done.stdout else "{}"
    return done.returncode, json.loads(first), done.stdout + done.stderr


def check_shape(out: dict[str, Any], scenarios: set[str]) -> None:
    assert out["mode"] == "quick" and out["seed"] == 7
    assert out["errors"] == {}
    wanted = set().union({"supervisor_deaths"}, *(PROMISED[s] for s in scenarios))
    assert set(out["promises"]) == wanted
    for key, promise in out["promises"].items():
        assert promise == {"value": out[key], "target": 0, "ok": out[key] == 0}
        assert isinstance(out[key], int)
    assert out["ok"] is all(p["ok"] for p in out["promises"].values())
    assert {"cores", "python", "kernel"} <= set(out["machine"])


def test_a_quick_run_prints_one_json_line_then_the_table():
    code, out, text = chaos("--only", "cancels", "fuzz")
    check_shape(out, {"cancels", "fuzz"})
    assert out["cancels"] >= 20 and out["fuzzed_settings"] >= 20 and out["fuzzed_requests"] >= 40
    assert out["detail"]["cancels"]["fork_bomb"]  # says how the bomb was capped
    assert "processes escaped" in text and "result" in text  # the table follows the line
    assert code == (0 if out["ok"] else 1)
    assert out["processes_escaped"] == 0, out["detail"]["cancels"]


def test_a_run_that_escapes_on_purpose_is_counted_and_fails_the_promise():
    # Given a run that has a process started outside its tree (an accomplice does it)
    code, out, _ = chaos("--only", "cancels", "--canary", "--json")
    # Then the counter finds it, names where it came from, and the run exits 1
    check_shape(out, {"cancels"})
    detail = out["detail"]["cancels"]
    assert out["processes_escaped"] >= 1
    assert detail["escaped_by_kind"].get("no cookie", 0) >= 1
    assert out["promises"]["processes_escaped"]["ok"] is False
    assert out["ok"] is False and code == 1


def test_an_unknown_scenario_is_a_usage_error():
    done = subprocess.run([sys.executable, str(CHAOS), "--only", "meteor"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "meteor" in done.stderr


@pytest.mark.slow
def test_every_scenario_runs_quick_and_computes_its_figures():
    code, out, _ = chaos(timeout=600)
    check_shape(out, set(PROMISED))
    assert out["kills"] >= 2 and out["fault_runs"] >= 100 and out["outage_s"] > 0
    assert code == (0 if out["ok"] else 1)
