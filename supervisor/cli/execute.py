"""`execute RUN_ID`: run one given run under full supervision and exit with its result.

Placeholder with the final shape; the actor system (issue 4) fills it in.
"""

from __future__ import annotations

import argparse

from supervisor.errors import UsageError

NAME = "execute"
HELP = "run one given run under full supervision and exit with its result"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_id", metavar="RUN_ID", help="id of the run to execute")


def run(args: argparse.Namespace) -> int:
    raise UsageError("execute: not available yet")
