"""A host program that embeds a supervisor, as the README shows; test_live.py runs it.

    python tests/ops/host_program.py supervisor.toml

Prints one JSON document: the actor tree read in-process, the one `GET /actors` served, and the
process-wide state (signal handlers, child-subreaper flag) before, during and after.
"""

from __future__ import annotations

import ctypes
import json
import signal
import sys
import time
from typing import Any

import httpx

from supervisor import Supervisor, load_settings

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD, signal.SIGUSR1,
           signal.SIGPIPE)
PR_GET_CHILD_SUBREAPER = 37


def process_state() -> dict[str, Any]:
    flag = ctypes.c_int(0)
    ctypes.CDLL(None, use_errno=True).prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(flag), 0, 0, 0)
    return {
        "handlers": {s.name: repr(signal.getsignal(s)) for s in SIGNALS},
        "subreaper": bool(flag.value),
    }


def flat(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [n for node in nodes for n in (node, *flat(node.get("children") or []))]


def up(sup: Supervisor) -> bool:
    """Healthy, and both pollers have ticked once."""
    ticked = {a["name"] for a in flat(sup.actor_states()) if a.get("last_tick")}
    return sup.health()[0] and {"schedule-poller", "cancellation-poller"} <= ticked


def main(path: str) -> int:
    before = process_state()
    with Supervisor(load_settings(path)) as sup:  # start() returned at once
        deadline = time.monotonic() + 30
        while not up(sup):
            if time.monotonic() > deadline:
                print(f"not healthy: {sup.health()[1]}", file=sys.stderr)
                return 1
            time.sleep(0.01)
        states = sup.actor_states()
        url = getattr(sup, "ops_url", None)
        served = httpx.get(f"{url}/actors", trust_env=False).json() if url else None
        during = process_state()
    after = process_state()
    json.dump({"actors": states, "served": served, "before": before, "during": during,
               "after": after}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
