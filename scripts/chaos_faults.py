#!/usr/bin/env python3
"""Many runs through the real system embedded in this process, with faults injected at real
boundaries: no slot may leak and every run must end. `chaos_faults.py RUNS [SEED]` prints JSON.

Faults (each counted as injected):
- a failing claim: the control plane (a LocalControlPlane wrapped through `Supervisor`'s
  `control_plane` parameter, its composition root) raises ControlPlaneUnavailable on 8 % of
  claims (proposals of PENDING) before applying them;
- a reporter that dies: 3 % of the other state proposals raise RuntimeError (a bug: the
  StateReporterActor dies and is restarted), half before and half after the state was applied
  (the retry must be absorbed by its idempotency key); 5 % more raise ControlPlaneUnavailable;
  5 % of scheduled-run polls raise ControlPlaneUnavailable;
- a log disk that fills: `log_dir` is a 256 KiB tmpfs (mounted here; we run as root) and 5 %
  of the runs print 0.5 MB; if the mount fails the runs log to a normal folder and the output says
  the fault was not injected;
- a storage pull that fails: 10 % of the runs use a git URL that does not exist, 15 % one that
  works until a third of the runs were created and is then deleted.

Runs hold `limit` 16 slots and are all due at once. Once every run is terminal in the database
(read on a connection of our own), the root's slot count must fall back to 0.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]

from chaos_common import MARK_VAR, kill_marked, read_runs_raw, wait_for, write_config  # noqa: E402

from supervisor.controlplane.local import LocalControlPlane  # noqa: E402
from supervisor.errors import ControlPlaneUnavailable  # noqa: E402
from supervisor.models import StateType  # noqa: E402

TERMINAL = {t.value for t in StateType if t.is_terminal}
RATES = {"claim": 0.08, "reporter_dies": 0.03, "report_unavailable": 0.05, "poll": 0.05}
LIMIT = 16


class FaultyPlane(LocalControlPlane):
    """The supervisor's own control plane, failing on purpose at the rates above."""

    def __init__(self, path: Path, rng: random.Random) -> None:
        super().__init__(path)
        self.rng = rng
        self.injected: Counter[str] = Counter()
        self._rng_lock = threading.Lock()

    def _roll(self, kind: str) -> bool:
        with self._rng_lock:
            hit = self.rng.random() < RATES[kind]
        if hit:
            self.injected[kind] += 1
        return hit

    def read_scheduled_runs(self, *args: Any, **kwargs: Any) -> Any:
        if self._roll("poll"):
            raise ControlPlaneUnavailable("chaos: scheduled-run poll failed")
        return super().read_scheduled_runs(*args, **kwargs)

    def set_state(self, run_id: uuid.UUID, state: Any, **kwargs: Any) -> Any:
        if state.type is StateType.PENDING:
            if self._roll("claim"):
                raise ControlPlaneUnavailable("chaos: claim failed")
            return super().set_state(run_id, state, **kwargs)
        if self._roll("report_unavailable"):
            raise ControlPlaneUnavailable("chaos: report failed")
        if self._roll("reporter_dies"):
            with self._rng_lock:
                after = self.rng.random() < 0.5
            if after:
                super().set_state(run_id, state, **kwargs)
            raise RuntimeError("chaos: the state reporter dies")
        return super().set_state(run_id, state, **kwargs)


class Errors(logging.Handler):
    """Counts log records carrying a traceback (those of injected faults apart), and errors."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.tracebacks = 0
        self.injected = 0
        self.errors: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if record.exc_info:
            if "chaos: " in str(record.exc_info[1]):
                self.injected += 1
            else:
                self.tracebacks += 1
        if record.levelno >= logging.ERROR:
            self.errors[record.getMessage()[:60]] += 1


def _mount_tmpfs(folder: Path) -> str | None:
    """A 256 KiB tmpfs at `folder`; None on success, else why not."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    return None if done.returncode == 0 else (done.stderr.strip() or f"exit {done.returncode}")


def _git_repo(path: Path) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "c", "GIT_AUTHOR_EMAIL": "c@c",
           "GIT_COMMITTER_NAME": "c", "GIT_COMMITTER_EMAIL": "c@c"}
    work = path.with_suffix(".work")
    work.mkdir()
    (work / "job.sh").write_text("echo from storage\n")
    for argv in (["git", "init", "-q", "-b", "main"], ["git", "add", "job.sh"],
                 ["git", "commit", "-qm", "job"], ["git", "clone", "-q", "--bare", ".", str(path)]):
        subprocess.run(argv, cwd=work, env=env, check=True, capture_output=True)


def deployments(folder: Path, token: str) -> tuple[list[dict[str, Any]], list[tuple[str, float]]]:
    good = folder / "good.git"
    _git_repo(good)
    sh = ["sh", "-c"]
    table = [
        ("echo", 0.40, {"command": [*sh, "echo ok"]}),
        ("chatty", 0.20, {"command": [*sh, "yes chatty-line-of-output | head -n 300"]}),
        ("flood", 0.05, {"command": [*sh, "yes flood-line-xxxxxxxxxxxxxxxxxxxxx | head -n 14000"]}),
        ("exit3", 0.10, {"command": [*sh, "echo failing; exit 3"]}),
        ("badgit", 0.10, {"command": [*sh, "true"],
                          "storage": {"url": f"file://{folder}/nonexistent-{token}.git"}}),
        ("gonegit", 0.15, {"command": [*sh, "cat job.sh"],
                           "storage": {"url": f"file://{good}", "pull_interval": 0.5}}),
    ]
    deps = [{"name": n, **d, "env": {MARK_VAR: token}} for n, _, d in table]
    return deps, [(n, w) for n, w, _ in table]


def run(total: int, seed: int) -> dict[str, Any]:
    from supervisor.settings import load_settings
    from supervisor.system import Supervisor

    rng = random.Random(seed)
    out: dict[str, Any] = {"runs": total, "limit": LIMIT}
    folder = Path(tempfile.mkdtemp(prefix="supervisor-chaos-faults-"))
    token = uuid.uuid4().hex
    logs = folder / "logs"
    why_not = _mount_tmpfs(logs)
    out["log_disk"] = "256 KiB tmpfs" if why_not is None else f"not injected (mount: {why_not})"
    errors = Errors()
    logging.getLogger().addHandler(errors)
    logging.getLogger().setLevel(logging.INFO)
    sup = plane = client = None
    try:
        deps, weights = deployments(folder, token)
        config = folder / "supervisor.toml"
        write_config(config, {
            "supervisor": {"name": "chaos", "database": "state.db", "log_dir": "logs",
                           "limit": LIMIT, "poll_interval": 0.5, "kill_grace": 1.0,
                           "max_restarts": 1000, "restart_window": 60.0},
            "ops": {"enabled": False, "port": 0},
            "deployments": deps,
        })
        settings = load_settings(config, env={})
        plane = FaultyPlane(settings.supervisor.database, rng)
        client = LocalControlPlane(settings.supervisor.database)
        client.register_deployments(settings.deployments)
        sup = Supervisor(settings, subreaper=True, control_plane=plane)
        sup.start()
        names = [n for n, _ in weights]
        picks = rng.choices(names, [w for _, w in weights], k=total)
        ids = []
        for i, name in enumerate(picks):
            ids.append(str(client.create_run(name).id))
            if i == total // 3:
                shutil.rmtree(folder / "good.git")
                out["storage_removed_after"] = i + 1
        sup.nudge()
        t0 = time.monotonic()
        out["all_terminal"] = wait_for(
            lambda: all(read_runs_raw(settings.supervisor.database).get(r) in TERMINAL
                        for r in ids), 60 + total * 0.3, every=0.5)
        out["terminal_s"] = round(time.monotonic() - t0, 1)
        raw = read_runs_raw(settings.supervisor.database)
        out["runs_not_terminal"] = sum(raw.get(r) not in TERMINAL for r in ids)
        out["not_terminal_states"] = dict(Counter(raw.get(r) for r in ids
                                                  if raw.get(r) not in TERMINAL))
        wait_for(lambda: _in_flight(sup) == 0, 30)
        out["slots_leaked"] = _in_flight(sup)
        out["final_states"] = dict(Counter(raw.get(r) for r in ids))
        out["truncation_noted"] = sum("truncat" in client.read_run(uuid.UUID(r)).state.message
                                      for r in ids)
        out["reporter_restarts"] = _restarts(sup, "state-reporter")
        out["supervisor_alive"] = sup.error is None
        out["died"] = int(sup.error is not None)
        out["supervisor_error"] = sup.error
        out["injected"] = dict(plane.injected)
        if why_not is None:
            usage = shutil.disk_usage(logs)
            out["log_disk_used_pct"] = round(100 * usage.used / usage.total)
    finally:
        if sup is not None:
            sup.stop(timeout=60)
        for conn in (plane, client):
            if conn is not None:
                conn.close()
        out["left_after_stop"] = kill_marked(token)
        logging.getLogger().removeHandler(errors)
        out["tracebacks"] = errors.tracebacks
        out["tracebacks_of_injected_bugs"] = errors.injected
        out["error_lines"] = dict(errors.errors.most_common(5))
        if why_not is None:
            subprocess.run(["umount", "-l", str(logs)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
    return out


def _in_flight(sup: Any) -> int:
    entry = sup.board.get("supervisor")
    return int(entry["owns"].get("in_flight", 0)) if entry else -1


def _restarts(sup: Any, name: str) -> int:
    entry = sup.board.get(name)
    return int(entry.get("restarts", 0)) if entry else -1


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING, format="%(levelname).1s %(name)s: %(message)s")
    result = run(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(json.dumps(result))
