"""`pause NAME` / `resume NAME` (supervisorctl's and Prefect's verbs): stop or restart a
deployment's schedule. Runs in flight go on; a paused deployment's due runs (retries included)
wait; resuming fires no backlog of the slots missed meanwhile."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="the deployment")
    parser.add_argument("--json", action="store_true", help="print the deployment as JSON")


def set_paused(args: argparse.Namespace, paused: bool) -> int:
    from supervisor.cli import context, output

    settings = context.load(args)
    with context.control_plane(settings, register=True) as plane:
        plane.set_paused(args.name, paused)
        info = next(i for i in plane.read_deployments() if i.name == args.name)
    if not paused:
        context.nudge(settings)
    if args.json:
        output.print_json(info.model_dump(mode="json"))
    else:
        print(f"{info.name}  {'paused' if paused else 'resumed'}")
    return 0
