"""What the ops scripts in scripts/ share: finding the supervisor, and exit codes.

Target: `--url URL`, else `$SUPERVISOR_OPS_URL`, else the `[ops]` host:port of the settings file
(`--config PATH`, `$SUPERVISOR_CONFIG`, `./supervisor.toml`). Every script answers with an exit
code a shell can branch on; failures are one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import NoReturn

from supervisor.errors import SupervisorError
from supervisor.ops.client import OpsClient, settings_url

UNREACHABLE = 2
"""No answer, not a supervisor, or a bad settings file."""
USAGE = 64
"""Bad command line (EX_USAGE; argparse's own 2 would read as "unreachable")."""
URL_ENV = "SUPERVISOR_OPS_URL"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: {message}\n")


def parser(description: str, exit_codes: str) -> Parser:
    result = Parser(
        description=description,
        epilog=f"exit codes: {exit_codes}; {UNREACHABLE} supervisor not reachable; "
        f"{USAGE} bad usage",
    )
    result.add_argument("--url", help=f"ops API base URL (default: ${URL_ENV}, else the config)")
    result.add_argument(
        "--config", metavar="PATH",
        help="settings file naming [ops] host/port "
        "(default: $SUPERVISOR_CONFIG, else ./supervisor.toml)",
    )
    result.add_argument("--timeout", type=float, default=5.0, metavar="S",
                        help="seconds to wait for an answer (default: 5)")
    return result


def client(args: argparse.Namespace) -> OpsClient:
    url = args.url or os.environ.get(URL_ENV)
    if not url:
        from supervisor.settings import load_settings

        settings = load_settings(args.config)
        if settings.ops.port == 0:
            raise SupervisorError("[ops] port is 0 (any free port): pass --url")
        url = settings_url(settings.ops)
    return OpsClient(url, timeout=args.timeout)


def run(main: Callable[[], int]) -> NoReturn:
    """Exit with main()'s code; errors become one line and UNREACHABLE; a closed pipe is quiet."""
    name = os.path.basename(sys.argv[0])
    try:
        code = main()
        sys.stdout.flush()
    except SupervisorError as exc:
        print(f"{name}: {exc}", file=sys.stderr)
        code = UNREACHABLE
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        code = 0
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
