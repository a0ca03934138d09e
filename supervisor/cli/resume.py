"""`resume NAME`: see pausing.py."""

from __future__ import annotations

import argparse

from supervisor.cli.pausing import add_arguments

NAME = "resume"
HELP = "resume a paused deployment's schedule (no backlog of missed slots)"
__all__ = ["HELP", "NAME", "add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    from supervisor.cli.pausing import set_paused

    return set_paused(args, False)
