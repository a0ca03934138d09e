"""`start [--once] [--drain SECONDS]`: run the supervisor in the foreground until SIGINT/SIGTERM.

Signals are handled here and nowhere else. A handler only counts; the main thread acts:
the first SIGINT/SIGTERM stops the system (letting runs finish for up to `--drain` seconds),
a second one kills every run's tree at once. `stop()` runs on a helper thread so the main
thread stays free to act on that second signal. SIGUSR1 logs every thread's traceback.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import uuid
from types import FrameType
from typing import TYPE_CHECKING

from supervisor.cli.parsing import non_negative_float

if TYPE_CHECKING:
    from supervisor.settings import Settings
    from supervisor.system import Supervisor

NAME = "start"
HELP = "run the supervisor in the foreground until SIGINT/SIGTERM"
WAIT_SLICE = 0.05
"""s the main thread waits on the system before looking at the signal count again."""
INTERRUPTED = 130
"""Exit code of a command stopped by Ctrl-C (`execute`; `start` exits 0 when stopped)."""
LOG_FORMAT = "%(asctime)s.%(msecs)03d %(levelname).1s [%(threadName)s] %(name)s: %(message)s"

log = logging.getLogger("supervisor.cli.start")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--once",
        action="store_true",
        help="take the runs that are due now, wait for them to end, then exit",
    )
    parser.add_argument(
        "--drain",
        type=non_negative_float,
        default=0.0,
        metavar="SECONDS",
        help="on the first SIGINT/SIGTERM let running runs finish for up to SECONDS before "
        "ending their process trees (default 0)",
    )
    parser.add_argument(
        "--echo-runs",
        action="store_true",
        help="also copy every line of run output into this log (it is always in the run's "
        "log file, see `logs`); by default only run lifecycle lines are logged",
    )


class SignalLatch:
    """Counts SIGINT/SIGTERM. Python runs handlers on the main thread, between bytecodes."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.count += 1


def run(args: argparse.Namespace) -> int:
    from supervisor.cli import context

    settings = context.load(args)  # a bad config is reported before the actor system is imported
    return run_supervised(settings, drain=args.drain, once=args.once, echo_runs=args.echo_runs)


def run_supervised(
    settings: Settings,
    *,
    drain: float = 0.0,
    once: bool = False,
    execute: uuid.UUID | None = None,
    ops_api: bool | None = None,
    announce: bool = True,
    echo_runs: bool = False,
    interruptible: bool = False,
    waiting: str | None = None,
) -> int:
    """Run a `Supervisor` in the foreground with the CLI's logging and signal handling (shared
    by `start` and `execute`); return its exit code, or INTERRUPTED when `interruptible` and a
    signal stopped it. Handlers are restored on the way out. `waiting` is said on stderr once
    the handlers are in place: after it, Ctrl-C is ours to answer."""
    import pykka.debug

    from supervisor.cli import context
    from supervisor.process import raise_open_files_limit
    from supervisor.system import Supervisor

    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT, datefmt="%H:%M:%S")
    for chatty in ("httpx", "httpcore", "websockets"):  # a line per request is not a lifecycle line
        logging.getLogger(chatty).setLevel(logging.WARNING)
    raise_open_files_limit()  # each run holds a few descriptors: 500 runs pass the usual 1024
    latch = SignalLatch()
    previous = {
        signum: signal.signal(signum, handler)
        for signum, handler in (
            (signal.SIGINT, latch),
            (signal.SIGTERM, latch),
            (signal.SIGUSR1, pykka.debug.log_thread_tracebacks),
        )
    }
    if waiting:
        print(waiting, file=sys.stderr, flush=True)
    try:
        sup = Supervisor(
            settings,
            subreaper=True,
            once=once,
            execute=execute,
            ops_api=ops_api,
            echo_runs=echo_runs,
        )
        sup.start()
        if announce:
            print(
                f"supervisor {settings.supervisor.name!r} started: "
                f"{len(settings.deployments)} deployment(s), "
                f"database {context.database_name(settings)} (Ctrl-C to stop)",
                file=sys.stderr,
                flush=True,
            )
        supervise(sup, latch, drain=drain)
        if interruptible and latch.count:
            return INTERRUPTED
        error = getattr(sup, "error", None)
        if sup.exit_code and error:
            print(f"supervisor stopped: {error}", file=sys.stderr)
        return int(sup.exit_code)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def supervise(sup: Supervisor, latch: SignalLatch, *, drain: float) -> None:
    """Wait for the system to stop, acting on signals from the main thread."""
    stopper: _Stopper | None = None
    killed = False
    while not sup.wait(WAIT_SLICE) or (stopper is not None and stopper.is_alive()):
        if latch.count >= 1 and stopper is None:
            log.info("stopping (drain %gs); signal again to kill every run now", drain)
            stopper = _Stopper(sup, drain)
            stopper.start()
        if latch.count >= 2 and not killed:
            log.warning("second signal: killing every run's process tree now")
            killed = True
            sup.kill()
    if stopper is not None:
        stopper.reraise()


class _Stopper(threading.Thread):
    """`sup.stop(drain=…)` off the main thread; its error is raised again on the main thread."""

    def __init__(self, sup: Supervisor, drain: float) -> None:
        super().__init__(name="supervisor-stop", daemon=True)
        self._sup = sup
        self._drain = drain
        self._error: BaseException | None = None

    def run(self) -> None:
        try:
            self._sup.stop(drain=self._drain)
        except BaseException as exc:
            self._error = exc

    def reraise(self) -> None:
        if self._error is not None:
            raise self._error
