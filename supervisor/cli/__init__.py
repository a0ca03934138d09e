"""The command-line interface: one module per command, each with `NAME`, `HELP`,
`add_arguments(parser)` and `run(args) -> int`.

`main()` is the only place that turns errors into exit codes:
ConfigError/UsageError → 2, any other SupervisorError → 1, Ctrl-C → 130; always one line on
stderr, never a traceback. Command modules import nothing heavy at module level so `--help`
stays fast; they load settings and the control plane inside `run()`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from types import ModuleType

from supervisor import __version__
from supervisor.cli import (
    cancel,
    deployments,
    execute,
    logs,
    pause,
    resume,
    retry,
    runs,
    start,
    status,
)
from supervisor.cli import run as run_command
from supervisor.errors import ConfigError, SupervisorError, UsageError

COMMANDS: tuple[ModuleType, ...] = (
    start,
    deployments,
    run_command,
    runs,
    cancel,
    retry,
    pause,
    resume,
    logs,
    status,
    execute,
)

PROG = "supervisor"
DEBUG_ENV = "SUPERVISOR_DEBUG"
"""Set to 1 to get the traceback of an unexpected error (a bug) instead of one line."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="An actor-model run supervisor: runs deployments on schedules and on demand.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _add_config(parser, default=None)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for module in COMMANDS:
        sub = commands.add_parser(module.NAME, help=module.HELP, description=module.HELP)
        # Also accepted after the command name; SUPPRESS keeps the global value when absent.
        _add_config(sub, default=argparse.SUPPRESS)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def _add_config(parser: argparse.ArgumentParser, default: object) -> None:
    parser.add_argument(
        "--config",
        metavar="PATH",
        default=default,
        help="settings file (default: $SUPERVISOR_CONFIG, else ./supervisor.toml)",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        return 130
    except ConfigError as exc:
        return _fail(str(exc), 2)
    except UsageError as exc:
        return _fail(_prefixed(args.command, exc), 2)
    except SupervisorError as exc:
        return _fail(_prefixed(args.command, exc), 1)
    except BrokenPipeError:
        # The reader went away (`runs | head`): stop quietly, and keep Python's exit-time flush
        # from raising again on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except OSError as exc:
        return _fail(f"{args.command}: {exc}", 1)
    except Exception as exc:
        if os.environ.get(DEBUG_ENV) == "1":
            raise
        return _fail(
            f"{args.command}: unexpected error: {type(exc).__name__}: {exc} "
            f"(set {DEBUG_ENV}=1 for the traceback)",
            1,
        )


def _prefixed(command: str, exc: Exception) -> str:
    message = str(exc)
    return message if message.startswith(f"{command}: ") else f"{command}: {message}"


def _fail(message: str, code: int) -> int:
    print(" ".join(message.split()), file=sys.stderr)
    return code
