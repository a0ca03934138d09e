"""`pause NAME`: see pausing.py."""

from __future__ import annotations

import argparse

from supervisor.cli.pausing import add_arguments

NAME = "pause"
HELP = "pause a deployment's schedule (runs in flight go on)"
__all__ = ["HELP", "NAME", "add_arguments", "run"]


def run(args: argparse.Namespace) -> int:
    from supervisor.cli.pausing import set_paused

    return set_paused(args, True)
