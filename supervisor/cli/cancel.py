"""`cancel RUN_ID`: a run not yet started is CANCELLED at once; a running one becomes CANCELLING
for its supervisor to end (nudged, so that happens at once when one is alive)."""

from __future__ import annotations

import argparse

NAME = "cancel"
HELP = "cancel a run; prints the state it is now in"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="id of the run to cancel")
    parser.add_argument("--json", action="store_true", help="print the whole run as JSON")


def run(args: argparse.Namespace) -> int:
    from supervisor.cli import context, output
    from supervisor.cli.parsing import parse_run_id
    from supervisor.errors import RunNotFound

    run_id = parse_run_id(args.run_id)
    settings = context.load(args)
    with context.control_plane(settings) as plane:
        try:
            result = plane.request_cancel(run_id)
        except RunNotFound:
            raise RunNotFound(
                f"no run with id '{run_id}' in {context.database_name(settings)}"
            ) from None
    context.nudge(settings)
    if args.json:
        output.print_json(result.to_json())
    else:
        message = f": {result.state.message}" if result.state.message else ""
        print(f"{result.id}  {result.state.name}{message}")
    return 0
