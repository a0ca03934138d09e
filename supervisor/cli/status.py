"""`status`: the live actor tree and runs of the supervisor named by the config.

Placeholder with the final shape; the ops surface (issue 6) fills it in.
"""

from __future__ import annotations

import argparse

from supervisor.errors import UsageError

NAME = "status"
HELP = "show the live actor tree and runs of a running supervisor"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON")


def run(args: argparse.Namespace) -> int:
    raise UsageError("status: not available yet")
