#!/usr/bin/env python3
"""This supervisor in worker mode beside Prefect's own `prefect worker start --type process`
(and, on 2.x, `prefect agent start`), each on its own work pool of one real server, one run.

    .venv/bin/python scripts/bench_prefect_worker.py [-n N] [--scale M] [--version V ...]
                                                      [--only supervisor,worker,agent]

Prints one JSON object keyed by version, then by contender. Each contender is its own process
(`python -m supervisor start` with `work_pool`, or the Prefect CLI from the server's venv), with
a cookie in its environment that every process it starts inherits. Figures:
  - created -> flow code running: from `create_flow_run` to the flow's first line (its own
    time.time() stamp), and created -> flow process spawned (its start time in /proc, 10 ms
    ticks): the difference is Prefect's engine starting up, the same for every contender; each
    create follows a random pause of up to the contender's poll
    interval, so it lands at any phase of the loop. N sequential runs of a real Prefect flow
    (`python -m prefect.engine`, the venv's python) that starts a `sleep` grandchild;
  - cancel -> whole tree gone: from the CANCELLING proposal (as the UI's cancel) until the flow
    process and its grandchild are both gone (or SETTLE s after the flow process, if the
    grandchild outlives it: then it counts as escaped);
  - processes escaping: cookie-carrying processes still alive SETTLE s after each cancel, and
    after the contender was stopped with SIGTERM (all then SIGKILLed by the bench);
  - RSS at M sleeping flow runs: the contender process's own VmRSS once M runs are executing.
    The runs' job `command` is `sleep 600` rather than the engine, so M Python processes that
    import prefect do not swamp the machine: the contender's own memory does not depend on it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from scripts.bench_prefect_anchor import start_time, stats, until  # noqa: E402
from tests import leaks  # noqa: E402
from tests.prefect.api import PrefectApi  # noqa: E402

SETTLE = 1.0  # s a grandchild gets to die with its flow before it counts as escaped
POLL = {"supervisor": 1.0, "worker": 10.0, "agent": 10.0}  # each one's default poll interval
COOKIE = "BENCH_WORKER_COOKIE"

FLOW_SOURCE = '''
"""Stamps when its code starts, then waits on a grandchild `sleep`."""
import json, os, subprocess, time
from pathlib import Path

from prefect import flow


@flow
def bench(sleep_seconds: int = 600):
    started = time.time()
    child = subprocess.Popen(["sleep", str(sleep_seconds)])
    stamps = Path(os.environ["BENCH_STAMPS"])
    run_id = os.environ["PREFECT__FLOW_RUN_ID"]
    stamp = {"started": started, "pid": os.getpid(), "grandchild": child.pid}
    (stamps / f"{run_id}.tmp").write_text(json.dumps(stamp))
    (stamps / f"{run_id}.tmp").rename(stamps / f"{run_id}.json")
    child.wait()
'''


def cookie_processes(cookie: str, but: int) -> list[int]:
    return [p for p, _ in leaks.processes_with(f"{COOKIE}={cookie}".encode()) if p != but]


def kill_all(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def started_at(ticks: int) -> float:
    """A process's start (clock ticks after boot, from /proc/PID/stat) as a time.time()."""
    boot = time.time() - time.clock_gettime(time.CLOCK_BOOTTIME)
    return boot + ticks / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return float("nan")


def contender_argv(kind: str, server: Any, pool: str, folder: Path) -> list[str]:
    prefect = str(Path(server.python).parent / "prefect")
    if kind == "worker":
        return [prefect, "worker", "start", "--pool", pool, "--type", "process"]
    if kind == "agent":
        return [prefect, "agent", "start", "--pool", pool]
    config = folder / "supervisor.toml"
    config.write_text(
        f'[supervisor]\nname = "bench"\nlimit = 100\nlog_dir = "{folder}/logs"\n'
        f'work_dir = "{folder}/work"\n[ops]\nenabled = false\n'
        f'[control_plane]\nkind = "prefect"\napi_url = "{server.api_url}"\n'
        f'journal = "{folder}/journal.db"\nwork_pool = "{pool}"\n'
        f'flow_python = "{server.python}"\n')
    return [sys.executable, "-m", "supervisor", "--config", str(config), "start"]


def one_run(api: PrefectApi, deployment: str, stamps: Path, cookie: str, contender: int,
            jitter: float, timeout: float) -> dict[str, Any]:
    time.sleep(random.uniform(0, jitter))
    created = time.time()
    run = api.create_flow_run(deployment)
    path = stamps / f"{run['id']}.json"
    until(path.exists, timeout, f"stamp of flow run {run['id']}")
    stamp = json.loads(path.read_text())
    flow, child = stamp["pid"], stamp["grandchild"]
    flow_start, child_start = start_time(flow), start_time(child)
    spawned = started_at(flow_start) if flow_start is not None else float("nan")
    cancelled = time.monotonic()
    api.cancel(run["id"])
    until(lambda: start_time(flow) != flow_start, timeout, "end of the flow process")
    flow_gone = time.monotonic()
    with contextlib.suppress(TimeoutError):
        until(lambda: start_time(child) != child_start, SETTLE, "", 0.005)
    tree_gone = time.monotonic()
    time.sleep(max(0.0, SETTLE - (tree_gone - flow_gone)))
    escaped = cookie_processes(cookie, contender)
    kill_all(escaped)
    return {"created_to_running_ms": (stamp["started"] - created) * 1000,
            "created_to_spawned_ms": (spawned - created) * 1000,
            "cancel_to_tree_gone_ms": (tree_gone - cancelled) * 1000,
            "escaped": len(escaped)}


def measure(kind: str, server: Any, api: PrefectApi, n: int, scale: int,
            timeout: float = 120.0) -> dict[str, Any]:
    major = server.version.split(".")[0]
    pool = f"bench-{kind}-{uuid.uuid4().hex[:6]}"
    api.request("POST", "/work_pools/", {"name": pool,
                                         "type": "prefect-agent" if kind == "agent" else "process"})
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        folder, cookie = Path(tmp), uuid.uuid4().hex
        (folder / "bench_flow.py").write_text(FLOW_SOURCE)
        stamps = folder / "stamps"
        stamps.mkdir()
        key = "job_variables" if major == "3" else "infra_overrides"
        common = {"entrypoint": "bench_flow.py:bench", "path": str(folder), "work_pool_name": pool}
        flows = api.create_deployment(f"{pool}-flow", flow_name="bench", **common)["id"]
        sleeps = api.create_deployment(f"{pool}-sleep", flow_name="bench", **common,
                                       **{key: {"command": "sleep 600"}})["id"]
        env = {**server.env(), COOKIE: cookie, "BENCH_STAMPS": str(stamps)}
        with open(folder / "contender.log", "wb") as log:
            proc = subprocess.Popen(contender_argv(kind, server, pool, folder), cwd=folder,
                                    env=env, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        out: dict[str, Any] = {}
        try:
            samples = [one_run(api, flows, stamps, cookie, proc.pid, POLL[kind], timeout)
                       for _ in range(n)]
            out["created_to_running_ms"] = stats([s["created_to_running_ms"] for s in samples])
            out["created_to_spawned_ms"] = stats([s["created_to_spawned_ms"] for s in samples])
            out["cancel_to_tree_gone_ms"] = stats([s["cancel_to_tree_gone_ms"] for s in samples])
            out["escaped_after_cancel"] = sum(s["escaped"] for s in samples)
            for _ in range(scale):
                api.create_flow_run(sleeps)
            until(lambda: len(cookie_processes(cookie, proc.pid)) >= scale, timeout,
                  f"{scale} sleeping runs", 0.5)
            out[f"rss_mib_at_{scale}_runs"] = rss_mib(proc.pid)
        except TimeoutError as error:
            out["error"] = f"{error}; log tail: " + (folder / "contender.log").read_text(
                errors="replace")[-1500:]
        finally:
            proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            time.sleep(SETTLE)
            left = cookie_processes(cookie, proc.pid)
            kill_all(left)
            out["left_after_sigterm"] = len(left)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=3, help="runs per contender (default 3)")
    parser.add_argument("--scale", type=int, default=50, help="sleeping runs for RSS (50)")
    parser.add_argument("--version", action="append", help="Prefect version (repeat)")
    parser.add_argument("--only", default="supervisor,worker,agent")
    parser.add_argument("--postgres", action="store_true",
                        help="back each server with a private PostgreSQL "
                        "(tests/prefect/postgres.py): a SQLite-backed 3.4 server stalls under "
                        "the supervisor's claims")
    args = parser.parse_args(argv)
    from tests.prefect.postgres import Postgres
    from tests.prefect.server import PrefectServer, venvs

    result: dict[str, Any] = {}
    for version in args.version or list(venvs().PINS):
        kinds = [k for k in args.only.split(",") if k != "agent" or version.startswith("2.")]
        with contextlib.ExitStack() as stack:
            url = None
            if args.postgres:
                url = stack.enter_context(Postgres()).create_database("prefect")
            server = stack.enter_context(PrefectServer(version, url))
            api = stack.enter_context(PrefectApi(server.api_url, timeout=30))
            result[version] = {}
            for kind in kinds:
                result[version][kind] = measure(kind, server, api, args.n, args.scale)
                print(json.dumps({version: {kind: result[version][kind]}}), file=sys.stderr)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
