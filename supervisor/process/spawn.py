"""start_process: spawn a run's main process in its own session; hand it to the shared threads."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable

from supervisor.process import runtime
from supervisor.process.ending import TreeEnder
from supervisor.process.exits import ExitResult
from supervisor.process.output import LogFile, OutputReader
from supervisor.process.pidfds import Proc
from supervisor.process.run import RunProcess
from supervisor.process.spec import ProcessSpec
from supervisor.timers import Scheduler


def _why(error: BaseException, spec: ProcessSpec) -> str:
    filename = getattr(error, "filename", None)
    if spec.cwd is not None and filename is not None and str(filename) == str(spec.cwd):
        return f"working directory {spec.cwd}: {getattr(error, 'strerror', error)}"
    return str(error) or type(error).__name__


def start_process(
    spec: ProcessSpec,
    *,
    on_output: Callable[[str], None] | None = None,
    on_exit: Callable[[ExitResult], None] | None = None,
    scheduler: Scheduler | None = None,
) -> RunProcess:
    """Start `spec` and watch it. Never raises for a command that cannot start: the result is
    then already there (START_FAILED) and `on_exit` was called before this returns.

    `scheduler` times its grace and drain deadlines (and its clock, durations): the supervisor
    passes its own, so one thread and one clock serve actors and processes alike."""
    rt = runtime.get()
    timers = scheduler if scheduler is not None else rt.default_timers()
    run = RunProcess(spec, rt, timers, on_exit)
    if not spec.argv:
        run._start_failed("empty command")
        return run
    # A log that cannot be opened or written never stops the run: it says so (LogFile.truncated).
    log_file = LogFile(spec.log_path, spec.run_id) if spec.log_path is not None else None
    try:
        popen = subprocess.Popen(
            list(spec.argv),
            cwd=spec.cwd,
            env=spec.child_env(),
            stdin=rt.devnull(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    except (OSError, ValueError, TypeError, subprocess.SubprocessError) as error:
        if log_file is not None:
            log_file.close()
        run._start_failed(_why(error, spec))
        return run
    # The child, just exec'd, is often queued behind this thread on the CPU it was vforked on:
    # yield, so it runs before our bookkeeping (launch overhead p50 1.82 -> 1.54 ms, 3 runs each).
    os.sched_yield()
    try:
        fd = os.pidfd_open(popen.pid)
    except OSError as error:  # out of file descriptors: we could not watch it, so do not run it
        popen.kill()
        popen.wait()
        assert popen.stdout is not None
        popen.stdout.close()
        if log_file is not None:
            log_file.close()
        run._start_failed(f"cannot watch the process: {error}")
        return run
    # Our unreaped child: its pid cannot be reused until we reap it, so no start time is needed
    # (reading /proc/<pid>/stat here would wait for the exec to finish: +0.2 ms per launch).
    main = Proc(pid=popen.pid, fd=fd, starttime=0, sid=popen.pid)
    rt.mains.add(popen.pid)  # until it is reaped
    ender = TreeEnder(spec.run_id, main, spec.kill_grace, rt, timers, run._ended, run._main_reaped)
    assert popen.stdout is not None
    output = OutputReader(popen.stdout, rt.pump, log_file, on_output, run._output_done)
    run._attach(popen, ender, output)
    return run
