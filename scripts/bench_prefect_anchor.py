#!/usr/bin/env python3
"""The anchor the Prefect figures are compared with: a plain `flow.serve` runner on a real server.

    .venv/bin/python scripts/bench_prefect_anchor.py [-n N] [--version V ...]
    .venv/bin/python scripts/bench_prefect_anchor.py [-n N] --api-url URL --prefect-python PY

Without --api-url it starts each version's server itself (tests/prefect/server.py) and prints one
JSON object keyed by version. The runner is the Prefect venv's python running a flow file that
`serve()`s itself; this driver only speaks REST (httpx), so it runs in the bench's venv. One run at
a time, N times:
  - created → running: from the `create_flow_run` request to the flow's first line (its own
    time.time() stamp, written to a file named after the run id); each run is created after a
    random pause of up to the runner's 10 s poll interval, so it lands at any phase of the loop;
  - cancel → process gone: from the CANCELLING proposal (as the UI's cancel) until the flow's
    process (the pid in the stamp, re-identified by its start time) is gone;
  - grandchildren left alive: the flow's `sleep` child still running 1 s after that (then killed).
Known anchor (issue 11): created → running 9.3 s p50 on 2.19.9, 8.7 s on 3.4.25; cancel → process
gone 9.8 s / 0.05 s; grandchildren left alive 3 of 3.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests import leaks  # noqa: E402
from tests.prefect.api import PrefectApi  # noqa: E402

FLOW = "anchor"
DEPLOYMENT = "anchor-bench"
POLL_INTERVAL = 10.0  # s, PREFECT_RUNNER_POLL_FREQUENCY's default in 2.19 and 3.4
SETTLE = 1.0  # s a grandchild gets to die with its parent before it counts as left alive

FLOW_SOURCE = f'''
"""Served by flow.serve: stamps when its code starts, then waits on a grandchild `sleep`."""
import json, os, subprocess, time
from pathlib import Path

from prefect import flow
from prefect.runtime import flow_run


@flow(name="{FLOW}")
def anchor(sleep_seconds: int = 600):
    started = time.time()
    child = subprocess.Popen(["sleep", str(sleep_seconds)])
    stamps = Path(os.environ["ANCHOR_STAMPS"])
    stamp = {{"started": started, "pid": os.getpid(), "grandchild": child.pid}}
    (stamps / f"{{flow_run.id}}.tmp").write_text(json.dumps(stamp))
    (stamps / f"{{flow_run.id}}.tmp").rename(stamps / f"{{flow_run.id}}.json")
    child.wait()


if __name__ == "__main__":
    anchor.serve(name="{DEPLOYMENT}")
'''


def stats(values: list[float]) -> dict[str, Any]:
    """p50 (median) and p95 (nearest rank), as scripts/bench reports them."""
    ordered = sorted(values)
    if not ordered:
        return {"p50": None, "p95": None, "n": 0}
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    middle = len(ordered) // 2
    p50 = ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
    return {"p50": round(p50, 3), "p95": round(p95, 3), "n": len(ordered)}


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (its identity with the pid); None when it is
    gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            fields = handle.read().rsplit(b")", 1)[-1].split()
    except OSError:
        return None
    return None if fields[0] in (b"Z", b"X") else int(fields[19])


def until(predicate: Any, timeout: float, what: str, interval: float = 0.01) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"anchor: no {what} after {timeout} s")
        time.sleep(interval)
    return value


@contextlib.contextmanager
def served(prefect_python: str, env: dict[str, str], folder: Path) -> Iterator[Path]:
    """The flow.serve runner, in its own session; yields the stamps folder. On exit the runner's
    group gets SIGTERM, then SIGKILL, and so does anything else it started."""
    (folder / "anchor_flow.py").write_text(FLOW_SOURCE)
    stamps = folder / "stamps"
    stamps.mkdir()
    with open(folder / "runner.log", "wb") as log:
        runner = subprocess.Popen(
            [prefect_python, "anchor_flow.py"],
            cwd=folder,
            env={**env, "ANCHOR_STAMPS": str(stamps)},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield stamps
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            runner.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(runner.pid, signal.SIGKILL)
        runner.wait()
        # Whatever left the group (a flow process in its own session, an orphaned grandchild
        # of a failed sample) still carries the stamps folder in its environment.
        for pid, _ in leaks.processes_with(f"ANCHOR_STAMPS={stamps}".encode()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def one_run(
    api: PrefectApi, deployment_id: str, stamps: Path, timeout: float, jitter: float
) -> dict[str, Any]:
    """Create, wait for the code, cancel, wait for the process: one sample of each figure.
    A random pause first, so runs are created at any phase of the runner's poll loop (back to
    back, each create would land at the same point of it)."""
    time.sleep(random.uniform(0, jitter))
    created = time.time()
    run = api.create_flow_run(deployment_id)
    path = stamps / f"{run['id']}.json"
    until(path.exists, timeout, f"stamp of flow run {run['id']}")
    stamp = json.loads(path.read_text())
    flow_pid, grandchild = stamp["pid"], stamp["grandchild"]
    flow_started, grandchild_started = start_time(flow_pid), start_time(grandchild)

    cancelled = time.monotonic()
    answer = api.cancel(run["id"])
    until(lambda: start_time(flow_pid) != flow_started, timeout, "end of the flow process")
    gone = time.monotonic()
    with contextlib.suppress(TimeoutError):
        until(lambda: start_time(grandchild) != grandchild_started, SETTLE, "", 0.05)
    left = grandchild_started is not None and start_time(grandchild) == grandchild_started
    if left:
        os.kill(grandchild, signal.SIGKILL)  # the bench leaves nothing behind either
    return {
        "run_id": run["id"],
        "created_to_running_ms": (stamp["started"] - created) * 1000,
        "cancel_to_process_gone_ms": (gone - cancelled) * 1000,
        "grandchild_left_alive": left,
        "cancel_answer": answer["status"],
    }


def measure(
    api_url: str,
    prefect_python: str,
    n: int = 5,
    env: dict[str, str] | None = None,
    timeout: float = 90.0,
    jitter: float = POLL_INTERVAL,
) -> dict[str, Any]:
    """N sequential runs under a fresh flow.serve runner. `env` is the runner's environment
    (PrefectServer.env()); by default os.environ with PREFECT_API_URL set. `jitter`: the longest
    random pause before each create (the runner's poll interval spreads them over its loop)."""
    env = env or {**os.environ, "PREFECT_API_URL": api_url}
    with tempfile.TemporaryDirectory(prefix="prefect-anchor-") as tmp, PrefectApi(api_url) as api:
        folder = Path(tmp)
        version = api.version()
        with served(prefect_python, env, folder) as stamps:
            try:
                deployment = until(lambda: _deployment(api), timeout, "served deployment", 0.2)
                samples = [
                    one_run(api, deployment["id"], stamps, timeout, jitter) for _ in range(n)
                ]
            except TimeoutError as error:
                tail = (folder / "runner.log").read_text(errors="replace")[-3000:]
                raise TimeoutError(f"{error}; runner log tail:\n{tail}") from error
    return {
        "prefect_version": version,
        "created_to_running_ms": stats([s["created_to_running_ms"] for s in samples]),
        "cancel_to_process_gone_ms": stats([s["cancel_to_process_gone_ms"] for s in samples]),
        "grandchildren_left_alive": sum(s["grandchild_left_alive"] for s in samples),
        "grandchildren": len(samples),
        "samples": samples,
    }


def _deployment(api: PrefectApi) -> dict[str, Any] | None:
    try:
        return api.read_deployment_by_name(FLOW, DEPLOYMENT)
    except RuntimeError:  # 404 until the runner has registered it
        return None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=5, help="runs per version (default 5)")
    parser.add_argument("--version", action="append", help="Prefect version to start (repeat)")
    parser.add_argument("--api-url", help="an already running server instead")
    parser.add_argument("--prefect-python", help="with --api-url: python of a Prefect venv")
    args = parser.parse_args(argv)
    if bool(args.api_url) != bool(args.prefect_python):
        parser.error("--api-url and --prefect-python go together")
    if args.api_url:
        print(json.dumps(measure(args.api_url, args.prefect_python, args.n), indent=2))
        return 0
    from tests.prefect.server import PrefectServer, venvs

    out = {}
    for version in args.version or list(venvs().PINS):
        with PrefectServer(version) as server:
            out[version] = measure(server.api_url, server.python, args.n, server.env())
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
