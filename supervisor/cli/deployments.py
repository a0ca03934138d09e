"""`deployments`: every deployment with its schedule, next run time (in the schedule's own
timezone) and paused flag.

The config's deployments are registered first, so this works before any supervisor ran.
"""

from __future__ import annotations

import argparse

NAME = "deployments"
HELP = "list deployments: name, schedule, next run time, paused"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print a JSON list")


def run(args: argparse.Namespace) -> int:
    from supervisor.cli import context, output

    settings = context.load(args)
    with context.control_plane(settings, register=True) as plane:
        infos = plane.read_deployments()
    if args.json:
        output.print_json([info.model_dump(mode="json") for info in infos])
        return 0
    zones = {d.name: d.timezone for d in settings.deployments}
    rows = [
        (
            info.name,
            info.schedule or "on demand",
            output.when(info.next_run_time, zones.get(info.name)),
            "yes" if info.paused else "no",
        )
        for info in infos
    ]
    print(output.table(("NAME", "SCHEDULE", "NEXT RUN", "PAUSED"), rows))
    return 0
