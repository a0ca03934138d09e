"""`execute RUN_ID`: run one given run under full supervision and exit with its result.

The exit code is the run's: 0 when COMPLETED, its process's exit code when that is non-zero,
else 1 (killed, cancelled, could not start); 130 after Ctrl-C (SIGINT or SIGTERM), which ends
the run's tree (CANCELLED). A run due later is waited for, and that is said on stderr. The ops
API is not served (a `start`ed supervisor may own the port); cancels still arrive through the
control plane.
"""

from __future__ import annotations

import argparse
import sys

NAME = "execute"
HELP = "run one given run under full supervision and exit with its result"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="id of a SCHEDULED run to execute")
    parser.add_argument("--json", action="store_true", help="print the finished run as JSON")


def run(args: argparse.Namespace) -> int:
    from supervisor.cli import context, output
    from supervisor.cli.parsing import parse_run_id
    from supervisor.cli.start import INTERRUPTED, run_supervised
    from supervisor.clock import Clock
    from supervisor.errors import RunNotFound
    from supervisor.models import StateType

    run_id = parse_run_id(args.run_id)
    settings = context.load(args)
    with context.control_plane(settings, register=True) as plane:
        try:
            found = plane.read_run(run_id)
        except RunNotFound:
            raise RunNotFound(
                f"no run with id '{run_id}' in {context.database_name(settings)}"
            ) from None
    future = found.state.type is StateType.SCHEDULED and found.scheduled_time > Clock().now()
    code = run_supervised(
        settings, drain=0.0, execute=run_id, ops_api=False, announce=False, interruptible=True,
        waiting=output.waiting_line(found) if future else None,
    )
    if code == INTERRUPTED:
        return code
    if code != 0 and code != 1:
        return code
    with context.control_plane(settings) as plane:
        finished = plane.read_run(run_id)
    if args.json:
        output.print_json(finished.to_json())
    else:
        print(f"{finished.id}  {finished.state.name}: {finished.state.message}", file=sys.stderr)
    if finished.state.type is StateType.COMPLETED:
        return 0
    if finished.exit_code and 0 < finished.exit_code < 256:
        return finished.exit_code
    return 1
