"""Prefect flows run by the supervisor through `python -m prefect.engine` (2.19 and 3.4 alike).
Run with a Prefect venv's Python; the supervisor itself never imports prefect."""

import os
import subprocess
import sys
import threading
from pathlib import Path

from prefect import flow, task


@task
def double(x: int) -> int:
    return 2 * x


@flow
def happy(x: int = 1, out: str = "") -> int:
    """A task, parameters and a grandchild process that ends before the flow."""
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    result = double(x)
    Path(out).write_text(f"{result} {os.environ.get('FROM_JOB', '')}")
    return result


@flow
def failing() -> None:
    raise ValueError("boom")


@flow
def dies() -> None:
    os._exit(3)


@flow
def sleeper(ready: str = "") -> None:
    """Starts a grandchild, then waits until it is cancelled (both end only by a signal)."""
    child = subprocess.Popen([sys.executable, "-c", "import signal; signal.pause()"])
    Path(ready).write_text(f"{os.getpid()} {child.pid}")
    threading.Event().wait()  # set by nobody: the cancel's signal ends the process
