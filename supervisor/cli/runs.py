"""`runs [--deployment NAME] [--state TYPE] [--limit N]`: runs, latest scheduled time first.

The order is the control plane's (Prefect's EXPECTED_START_TIME_DESC): by scheduled time, then
by creation, latest first; a run scheduled for later is listed above runs that ran before it.
"""

from __future__ import annotations

import argparse

from supervisor.cli.parsing import positive_int

NAME = "runs"
HELP = "list runs, latest scheduled time first (runs due later come first)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--deployment", metavar="NAME", help="only runs of this deployment")
    parser.add_argument(
        "--state",
        metavar="TYPE",
        help="only runs in this state type (case-insensitive): SCHEDULED, RUNNING, FAILED, …",
    )
    parser.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="at most N runs (default 20)"
    )
    parser.add_argument("--json", action="store_true", help="print a JSON list of runs")
    parser.add_argument(
        "--follow", "-f", action="store_true",
        help="then print new states as they land, like tail -f (with --json: a JSON line each)",
    )


def run(args: argparse.Namespace) -> int:
    from supervisor.cli import context, output
    from supervisor.cli.parsing import parse_state

    state = parse_state(args.state)
    settings = context.load(args)
    with context.control_plane(settings) as plane:
        if args.follow:
            from supervisor.cli.follow import follow

            states = None if state is None else (state,)
            follow(plane, deployment=args.deployment, states=states, limit=args.limit,
                   as_json=args.json)
            return 0
        found = plane.read_runs(
            deployment=args.deployment,
            states=None if state is None else (state,),
            limit=args.limit,
        )
    if not found and args.deployment and settings.deployment(args.deployment) is None:
        from supervisor.errors import DeploymentNotFound

        known = ", ".join(d.name for d in settings.deployments) or "none"
        raise DeploymentNotFound(
            f"no deployment named {args.deployment!r} in {context.config_name(settings)} "
            f"(known: {known})"
        )
    if args.json:
        output.print_json([r.to_json() for r in found])
    else:
        print(output.table(output.RUN_HEADERS, [output.run_row(r) for r in found]))
    return 0
