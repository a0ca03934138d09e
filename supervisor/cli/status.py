"""`status [--json]`: the live actor tree and runs of the supervisor named by the config.

Reads the ops API at `[ops] host:port`. Exit codes: 0 healthy, 1 no answer (one line naming
host:port) or an error, 3 answering but unhealthy (as `systemctl status` does for a unit that
is not running well).
"""

from __future__ import annotations

import argparse
from typing import Any

NAME = "status"
HELP = "show the live actor tree and runs of a running supervisor"

UNHEALTHY = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON: {health, actors, runs}")
    parser.add_argument(
        "--timeout", type=float, default=5.0, metavar="S",
        help="seconds to wait for the supervisor's answer (default: 5)",
    )


def run(args: argparse.Namespace) -> int:
    import shutil
    import sys

    from supervisor.cli import context, output
    from supervisor.errors import OpsError, UsageError
    from supervisor.ops.client import OpsClient
    from supervisor.settings import load_settings

    if not args.timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds (got {args.timeout})")
    settings = load_settings(getattr(args, "config", None))
    ops = settings.ops
    if not ops.enabled:
        raise OpsError(f"the ops API is off in {context.config_name(settings)} ([ops] enabled)")
    if ops.port == 0:
        raise OpsError(
            f"[ops] port is 0 in {context.config_name(settings)}: the supervisor listens on a "
            "port the OS picked; set a fixed port to use status"
        )
    with OpsClient.for_settings(settings, timeout=args.timeout) as client:
        data: dict[str, Any] = {
            "health": client.health(),
            "actors": client.actors(),
            "runs": client.runs(),
        }
        where = client.where
    if args.json:
        output.print_json(data)
    else:
        from supervisor.ops.render import render_status

        width = shutil.get_terminal_size().columns if sys.stdout.isatty() else None
        print(render_status(data, where, width=width))
    return 0 if data["health"].get("status") == "ok" else UNHEALTHY
