"""`run NAME [--param key=value …] [--at TIME]`: create a run now or at a time; print its id."""

from __future__ import annotations

import argparse

NAME = "run"
HELP = "create a run of a deployment, now or at a given time, and print its id"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("deployment", metavar="NAME", help="the deployment to run")
    parser.add_argument(
        "--param",
        "-p",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a run parameter (repeatable); the value is parsed as JSON when it parses "
        "(n=3, flag=true), else kept as a string",
    )
    parser.add_argument(
        "--at",
        metavar="TIME",
        help="ISO-8601 time to run at (default: now); without a timezone it is local time; "
        "more than a day in the past is refused",
    )
    parser.add_argument("--json", action="store_true", help="print the whole run as JSON")


def run(args: argparse.Namespace) -> int:
    from datetime import timedelta

    from supervisor.cli import context, output
    from supervisor.cli.parsing import parse_params, parse_time
    from supervisor.errors import DeploymentNotFound

    parameters = parse_params(args.param)
    at = parse_time(args.at, not_before=timedelta(days=1))
    settings = context.load(args)
    if settings.deployment(args.deployment) is None:
        known = ", ".join(d.name for d in settings.deployments) or "none"
        raise DeploymentNotFound(
            f"no deployment named {args.deployment!r} in {context.config_name(settings)} "
            f"(known: {known})"
        )
    with context.control_plane(settings, register=True) as plane:
        created = plane.create_run(args.deployment, parameters, at)
    context.nudge(settings)
    if args.json:
        output.print_json(created.to_json())
    else:
        print(created.id)
    return 0
