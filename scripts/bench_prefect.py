#!/usr/bin/env python3
"""The Prefect figures: this supervisor beside a plain `flow.serve` runner, on the same server.

    .venv/bin/python scripts/bench_prefect.py [-n N] [--version V ...] [--json]

For each Prefect version (its server from tests/prefect/server.py, SQLite-backed), one server
runs three contenders in turn, N runs each, one run at a time:
  - flow.serve: the anchor (scripts/bench_prefect_anchor.py);
  - supervisor (polling): the supervisor embedded here with its default intervals (poll 1 s,
    cancel poll 0.5 s), over the REST API only;
  - supervisor (events), 3.x only: the same with `events = true` (the websocket's Scheduled
    and Cancelling events as the fast path).
Each sample: a random pause of up to one poll interval (runs land at any phase of the loop),
`create_flow_run` → the run's code writes its stamp (created → executing), then a CANCELLING
proposal as the UI's cancel → every process of the run's tree gone (cancel → tree reaped), then
processes of the run still alive 1 s later (escaped; killed by the bench). The supervisor's run
is the same shape as the anchor's flow: a Python process waiting on a `sleep` grandchild.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(ROOT)]

import bench_prefect_anchor as anchor  # noqa: E402

from tests import leaks  # noqa: E402
from tests.prefect.api import PrefectApi  # noqa: E402

DEPLOYMENT = "supervisor-bench"
POLL_INTERVAL, CANCEL_POLL_INTERVAL = 1.0, 0.5  # the supervisor's defaults
STAMP = """
import json, os, subprocess, sys, time
started = time.time()
child = subprocess.Popen(["sleep", "600"])
path = os.path.join(sys.argv[1], os.environ["SUPERVISOR_RUN_ID"])
open(path + ".tmp", "w").write(json.dumps({"started": started, "pid": os.getpid(),
                                          "grandchild": child.pid}))
os.rename(path + ".tmp", path + ".json")
child.wait()
"""


def _settings(api_url: str, folder: Path, stamps: Path, events: bool) -> Any:
    from supervisor.settings import parse_settings

    data = {
        "supervisor": {"name": f"bench-{os.getpid()}", "poll_interval": POLL_INTERVAL,
                       "cancel_poll_interval": CANCEL_POLL_INTERVAL, "kill_grace": 5.0,
                       "log_dir": str(folder / "logs"), "database": str(folder / "state.db")},
        "ops": {"enabled": False},
        "control_plane": {"kind": "prefect", "api_url": api_url, "events": events,
                          "journal": str(folder / "journal.db")},
        "deployments": [{"name": DEPLOYMENT,
                         "command": [sys.executable, "-c", STAMP, str(stamps)]}],
    }
    return parse_settings(data, folder / "supervisor.toml", env={})


def _cookie(run_id: str) -> bytes:
    return f"SUPERVISOR_RUN_ID={run_id}".encode()


def one_run(api: PrefectApi, deployment_id: str, stamps: Path, jitter: float) -> dict[str, Any]:
    time.sleep(random.uniform(0, jitter))
    created = time.time()
    run = api.create_flow_run(deployment_id)
    path = stamps / f"{run['id']}.json"
    anchor.until(path.exists, 60, f"stamp of run {run['id']}", 0.002)
    stamp = json.loads(path.read_text())
    tree = {pid: anchor.start_time(pid) for pid in (stamp["pid"], stamp["grandchild"])}

    cancelled = time.monotonic()
    api.cancel(run["id"])
    anchor.until(lambda: all(anchor.start_time(p) != t for p, t in tree.items()), 60,
                 "end of the run's tree", 0.002)
    gone = time.monotonic()
    api.wait_for_state(run["id"], ["CANCELLED"], 30)
    with contextlib.suppress(TimeoutError):
        anchor.until(lambda: not leaks.processes_with(_cookie(run["id"])), anchor.SETTLE, "", 0.05)
    escaped = leaks.processes_with(_cookie(run["id"]))
    for pid, _ in escaped:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return {
        "run_id": run["id"],
        "created_to_running_ms": (stamp["started"] - created) * 1000,
        "cancel_to_tree_reaped_ms": (gone - cancelled) * 1000,
        "escaped": len(escaped),
    }


def supervised(api_url: str, n: int, events: bool) -> dict[str, Any]:
    """N runs through the supervisor embedded in this process."""
    from supervisor.system import Supervisor

    with tempfile.TemporaryDirectory(prefix="bench-prefect-") as tmp, PrefectApi(api_url) as api:
        folder = Path(tmp)
        stamps = folder / "stamps"
        stamps.mkdir()
        with Supervisor(_settings(api_url, folder, stamps, events)) as sup:
            if events:
                anchor.until(lambda: sup._events is not None and sup._events.connected.is_set(),
                             30, "events websocket", 0.05)
            dep = api.read_deployment_by_name(DEPLOYMENT, DEPLOYMENT)["id"]
            samples = [one_run(api, dep, stamps, POLL_INTERVAL) for _ in range(n)]
    return {
        "created_to_running_ms": anchor.stats([s["created_to_running_ms"] for s in samples]),
        "cancel_to_tree_reaped_ms": anchor.stats([s["cancel_to_tree_reaped_ms"]
                                                  for s in samples]),
        "escaped": sum(s["escaped"] for s in samples),
        "runs": len(samples),
        "samples": samples,
    }


def measure(version: str, n: int) -> dict[str, Any]:
    from tests.prefect.server import PrefectServer

    with PrefectServer(version) as server:
        served = anchor.measure(server.api_url, server.python, n, server.env())
        out: dict[str, Any] = {
            "prefect_version": served["prefect_version"],
            "flow.serve": {
                "created_to_running_ms": served["created_to_running_ms"],
                "cancel_to_tree_reaped_ms": None,  # its grandchild outlives it: never reaped
                "cancel_to_process_gone_ms": served["cancel_to_process_gone_ms"],
                "escaped": served["grandchildren_left_alive"],
                "runs": served["grandchildren"],
            },
            "supervisor (polling)": supervised(server.api_url, n, events=False),
        }
        if version.startswith("3."):
            out["supervisor (events)"] = supervised(server.api_url, n, events=True)
    return out


def table(results: dict[str, Any]) -> str:
    lines = ["| Prefect | runner | created → executing p50 / p95 | cancel → tree reaped p50 / p95 "
             "| processes escaped |", "|---|---|---|---|---|"]
    for version, found in results.items():
        for runner, got in found.items():
            if not isinstance(got, dict):
                continue
            created = got["created_to_running_ms"]
            reaped = got["cancel_to_tree_reaped_ms"]
            if reaped is None:
                gone = got["cancel_to_process_gone_ms"]
                cancel = (f"never (flow process gone {_s(gone['p50'])} / {_s(gone['p95'])}; "
                          "its grandchild lives on)")
            else:
                cancel = f"{_s(reaped['p50'])} / {_s(reaped['p95'])}"
            lines.append(f"| {version} | {runner} | {_s(created['p50'])} / {_s(created['p95'])} "
                         f"| {cancel} | {got['escaped']} of {got['runs']} runs |")
    return "\n".join(lines)


TARGETS = (
    "Targets (issue 11), p95: created → executing ≤ poll interval + 100 ms (1.1 s) when polling, "
    "≤ 250 ms over 3.x events; cancel → tree reaped ≤ cancel poll interval + 100 ms (0.6 s) when "
    "polling, ≤ 250 ms on 3.x (events); processes escaped 0."
)


def write_readme(path: Path, results: dict[str, Any], date: str) -> None:
    """Rewrite the table between README.md's `<!-- bench-prefect:start/end -->` markers."""
    import re

    text = path.read_text()
    pattern = re.compile(r"(<!-- bench-prefect:start -->\n)(?:.*?\n)?(<!-- bench-prefect:end -->)",
                         re.S)
    if not pattern.search(text):
        raise SystemExit(f"{path}: no <!-- bench-prefect:start --> … :end --> markers")
    runs = max(g["runs"] for found in results.values() for g in found.values()
               if isinstance(g, dict))
    section = (f"{table(results)}\n\n{TARGETS} Measured {date} by `scripts/bench`, {runs} runs "
               "per runner, one at a time, SQLite-backed servers on loopback.")
    path.write_text(pattern.sub(lambda m: m.group(1) + section + "\n" + m.group(2), text))


def _s(ms: float) -> str:
    return f"{ms / 1000:.2f} s" if ms >= 1000 else f"{ms:.0f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=10, help="runs per contender (default 10)")
    parser.add_argument("--version", action="append", help="Prefect version (repeat)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    from supervisor.process import enable_subreaper, raise_open_files_limit

    raise_open_files_limit()
    enable_subreaper()
    from tests.prefect.server import venvs

    results = {v: measure(v, args.n) for v in (args.version or list(venvs().PINS))}
    print(json.dumps(results, indent=2) if args.json else f"{table(results)}\n\n{TARGETS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
