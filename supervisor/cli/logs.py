"""`logs RUN_ID [--follow]`: the run's captured output, from `<log_dir>/<run_id>.log`.

The run actors write that file; this only reads it. `--follow` polls the file and the run's
state at a modest interval (a CLI may poll) and ends once the run is terminal and the file is
read to its end. A log that was cut short (its disk was full) is printed as far as it goes,
then said on stderr, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from supervisor.models import StateType

if TYPE_CHECKING:
    from supervisor.controlplane.port import ControlPlane
    from supervisor.models import Run
    from supervisor.settings import Settings

NAME = "logs"
HELP = "print a run's captured output (--follow: until the run ends)"
FOLLOW_POLL = 0.2
"""s between looks at the log file and the run's state while following."""
CHUNK = 64 * 1024
NOT_STARTED = (StateType.SCHEDULED, StateType.PENDING)
TRUNCATED = "output truncated at "
"""How a run's state message says its log was cut (supervisor/process/output.py)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="id of the run")
    parser.add_argument(
        "--follow", "-f", action="store_true", help="keep printing new output until the run ends"
    )


def log_path(settings: Settings, run_id: uuid.UUID) -> Path:
    return settings.supervisor.log_dir / f"{run_id}.log"


def run(args: argparse.Namespace) -> int:
    from supervisor.cli import context, output
    from supervisor.cli.parsing import parse_run_id

    run_id = parse_run_id(args.run_id)
    settings = context.load(args)
    path = log_path(settings, run_id)
    out = sys.stdout.buffer
    with context.control_plane(settings) as plane:
        run = _read(plane, run_id, settings)  # unknown run id: exit 1 before printing anything
        offset = copy_new(path, 0, out)
        if args.follow and run.state.type in NOT_STARTED:
            print(output.waiting_line(run), file=sys.stderr, flush=True)
        while args.follow:
            # State first, then the file: output written before the run ended is never missed.
            terminal = _read(plane, run_id, settings).state.type.is_terminal
            offset = copy_new(path, offset, out)
            if terminal:
                break
            time.sleep(FOLLOW_POLL)
        _say_if_truncated(_read(plane, run_id, settings))
    return 0


def _say_if_truncated(run: Run) -> None:
    """A log cut short (a full disk) is an error: what was printed is not the whole output."""
    from supervisor.errors import SupervisorError

    at = run.state.message.find(TRUNCATED)
    if at >= 0:
        cut = run.state.message[at + len("output "):]
        raise SupervisorError(f"the output of run {run.id} was {cut}; the rest was lost")


def _read(plane: ControlPlane, run_id: uuid.UUID, settings: Settings) -> Run:
    from supervisor.cli.context import database_name
    from supervisor.errors import RunNotFound

    try:
        return plane.read_run(run_id)
    except RunNotFound:
        raise RunNotFound(f"no run with id '{run_id}' in {database_name(settings)}") from None


def copy_new(path: Path, offset: int, out: BinaryIO) -> int:
    """Copy what `path` holds past `offset` to `out`; return the new offset (a missing file
    holds nothing yet)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            while chunk := handle.read(CHUNK):
                out.write(chunk)
                offset += len(chunk)
    except FileNotFoundError:
        return offset
    out.flush()
    return offset
