"""Adversarial cancels against a real `python -m supervisor start`: processes escaped must be 0.

Runs go in batches of every kind in chaos_adversary (grandchildren, SIGTERM-ignorers, a setsid
daemon, a fork bomb, a self-stopping tree). Each run is cancelled as the CLI does it (request in
the database, then a nudge over the ops API): most once their whole tree is up (`ready` in the
run's log), the rest at a random moment from 0 to 300 ms after they were created (mid-start).
Once every run of a batch is terminal in the database, every live process still carrying the
scenario's marker (environment or argv) escaped: it is counted, by kind, and killed.

`canary=True` adds a run that escapes on purpose (through an accomplice outside its tree: the
script itself starts a marked process when asked), to show the counter counts. `scrubbed=True`
adds a known gap: a setsid() daemon that execs with an empty environment (no cookie).
"""

from __future__ import annotations

import contextlib
import os
import random
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from chaos_common import (
    Daemon,
    adversary,
    cookie_of,
    free_port,
    keep_log,
    kill_marked,
    marked,
    nudge,
    scene,
    terminal,
    tracebacks,
    wait_for,
)

from supervisor.models import StateType

KINDS = ("grandchild", "ignorer", "daemon", "forkbomb", "stopper")
BOMB_CAP = 32


class Accomplice(threading.Thread):
    """Outside every run's tree: starts a marked process for each line read from the FIFO."""

    def __init__(self, fifo: Path, token: str) -> None:
        super().__init__(name="chaos-accomplice", daemon=True)
        self.fifo, self.token = fifo, token
        self.started_procs: list[subprocess.Popen[bytes]] = []
        os.mkfifo(fifo)

    def run(self) -> None:
        while True:
            with open(self.fifo) as handle:  # blocks until a writer comes
                for line in handle:
                    if line.strip() == "stop":
                        return
                    env = {"PATH": os.environ.get("PATH", ""), "CHAOS_SESSION": self.token}
                    self.started_procs.append(subprocess.Popen(
                        ["sleep", "3600"], env=env, start_new_session=True))

    def close(self) -> None:
        with open(self.fifo, "w") as handle:
            handle.write("stop\n")
        self.join(5)
        for proc in self.started_procs:
            with contextlib.suppress(OSError):
                proc.kill()
            proc.wait()


def run(total: int, *, grace: float = 0.3, batch: int = 10, canary: bool = False,
        scrubbed: bool = False, seed: int = 0) -> dict[str, Any]:
    rng = random.Random(seed)
    out: dict[str, Any] = {"cancels": 0, "escaped": 0, "escaped_by_kind": {}, "stuck": 0,
                           "not_cancelled": 0, "never_ready": 0, "fork_bomb": None}
    with scene("cancels") as sc:
        port = free_port()
        kinds = list(KINDS)
        args = {"forkbomb": (str(BOMB_CAP),)}
        accomplice = None
        if canary:
            accomplice = Accomplice(sc.folder / "proxy.fifo", sc.token)
            accomplice.start()
            kinds.append("proxy")
            args["proxy"] = (str(accomplice.fifo),)
        if scrubbed:
            kinds.append("scrubbed")
        deployments = [
            {"name": k, "command": adversary(k, *args.get(k, ()), token=sc.token),
             "kill_grace": grace}
            for k in kinds
        ]
        sc.write(deployments, ops_port=port, limit=batch, poll_interval=0.5,
                 cancel_poll_interval=0.2, kill_grace=grace)
        daemon = Daemon(sc)
        client = None
        try:
            if not daemon.wait_started():
                raise RuntimeError(f"the supervisor did not start: {daemon.stderr()[-500:]}")
            client = sc.client()
            logs = sc.folder / "logs"
            escaped_by_kind: dict[str, int] = {}
            while out["cancels"] < total and daemon.alive():
                picks = [kinds[(out["cancels"] + i) % len(kinds)] for i in range(batch)]
                if canary and "proxy" not in picks:
                    picks[-1] = "proxy"
                _batch(client, port, picks, logs, rng, grace, out)
                kind_of = out.pop("_kinds")
                for pid in marked(sc.token):
                    kind = kind_of.get(cookie_of(pid) or "", "no cookie")
                    escaped_by_kind[kind] = escaped_by_kind.get(kind, 0) + 1
                out["escaped"] += kill_marked(sc.token)
            out["escaped_by_kind"] = escaped_by_kind
        finally:
            daemon.finish(out)
            out["left_after_stop"] = kill_marked(sc.token)
            if accomplice is not None:
                accomplice.close()
            if client is not None:
                client.close()
            out["tracebacks"] = tracebacks(daemon.stderr())
            keep_log(daemon, "cancels", out)
    out["escaped"] += out["left_after_stop"]
    return out


def _batch(client: Any, port: int, picks: list[str], logs: Path, rng: random.Random,
           grace: float, out: dict[str, Any]) -> None:
    runs = [client.create_run(kind) for kind in picks]
    nudge(port)
    out["_kinds"] = {str(r.id): kind for r, kind in zip(runs, picks, strict=True)}
    early = {r.id for r in runs if rng.random() < 0.3}
    t0 = time.monotonic()
    for r in runs:
        log = logs / f"{r.id}.log"
        if r.id in early:
            time.sleep(max(0.0, t0 + rng.uniform(0, 0.3) - time.monotonic()))
        elif not wait_for(lambda log=log: _says_ready(log), 20):
            out["never_ready"] += 1
        if out["fork_bomb"] is None and r.deployment == "forkbomb" and log.exists():
            out["fork_bomb"] = _bomb_line(log)
        client.request_cancel(r.id)
        nudge(port)
        out["cancels"] += 1
    ended = {}

    def all_ended() -> bool:
        for r in runs:
            if r.id not in ended:
                got = client.read_run(r.id)
                if terminal(got):
                    ended[r.id] = got
        return len(ended) == len(runs)

    wait_for(all_ended, grace + 30, every=0.1)
    out["stuck"] += len(runs) - len(ended)
    out["not_cancelled"] += sum(x.state.type is not StateType.CANCELLED for x in ended.values())


def _says_ready(log: Path) -> bool:
    try:
        return b"ready" in log.read_bytes()
    except OSError:
        return False


def _bomb_line(log: Path) -> str | None:
    for line in log.read_text(errors="replace").splitlines():
        if line.startswith("bomb: "):
            return line.removeprefix("bomb: ")
    return None


__all__ = ["KINDS", "run"]
