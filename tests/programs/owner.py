"""A supervisor stand-in for the crash test: starts a tree with the layer, prints `owner ready`,
then waits to be SIGKILLed. `owner.py RUN_ID [subreaper]`."""

import sys
import threading

from supervisor.process import ProcessSpec, enable_subreaper, start_process
from tests.programs import program

if len(sys.argv) > 2 and sys.argv[2] == "subreaper":
    enable_subreaper()
ready = threading.Event()
lines = []


def on_output(line: str) -> None:
    lines.append(line)
    if sum(line.startswith(("ready", "grandchild")) for line in lines) >= 2:
        ready.set()


start_process(
    ProcessSpec(run_id=sys.argv[1], argv=(sys.executable, program("grandchild.py"))),
    on_output=on_output,
)
daemon_ready = threading.Event()
start_process(
    ProcessSpec(run_id=sys.argv[1], argv=(sys.executable, program("daemon.py"))),
    on_output=lambda line: daemon_ready.set() if line == "ready" else None,
)
ready.wait(30)
daemon_ready.wait(30)
print("owner ready", flush=True)
threading.Event().wait()
