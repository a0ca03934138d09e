"""`retry RUN_ID`: a finished run again, as the same run with the same parameters: it goes to
SCHEDULED "AwaitingRetry" due now (one more attempt: `run_count` goes on) and a live supervisor
is nudged to take it at once."""

from __future__ import annotations

import argparse

NAME = "retry"
HELP = "run a finished run again (same run, same parameters, next attempt)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="id of a finished run")
    parser.add_argument("--json", action="store_true", help="print the whole run as JSON")


def run(args: argparse.Namespace) -> int:
    from supervisor.cli import context, output
    from supervisor.cli.parsing import parse_run_id
    from supervisor.clock import Clock
    from supervisor.errors import RunNotFound
    from supervisor.policies.retry import retry_finished

    run_id = parse_run_id(args.run_id)
    settings = context.load(args)
    with context.control_plane(settings) as plane:
        try:
            found = retry_finished(plane, run_id, "the CLI", Clock().now())
        except RunNotFound:
            raise RunNotFound(
                f"no run with id '{run_id}' in {context.database_name(settings)}") from None
    context.nudge(settings)
    if args.json:
        output.print_json(found.to_json())
    else:
        print(f"{found.id}  {found.state.name}: {found.state.message}")
    return 0
