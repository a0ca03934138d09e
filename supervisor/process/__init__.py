"""Process trees: start a run's process, know its whole tree, end it, explain how it ended.

    start_process(spec, on_output=..., on_exit=...) -> RunProcess
    RunProcess.tree() / .terminate(grace, reason) / .wait() / .result
    enable_subreaper(), raise_open_files_limit()   (process-wide: opt-in, the CLI calls them)
    sweep_leftovers(run_ids, grace), entrypoint_argv(entrypoint)

Nothing escapes: each run has its own session and an environment cookie (SUPERVISOR_RUN_ID) that
every descendant inherits; ending a run signals the walked tree, its process group and every
cookie carrier, and a final /proc scan verifies nothing is left. Four shared threads serve all runs.

Imports are lazy so the entrypoint child (`python -m supervisor.process.entrypoint`) stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from supervisor.process.exits import ExitReason, ExitResult, explain_returncode
    from supervisor.process.limits import raise_open_files_limit
    from supervisor.process.run import RunProcess
    from supervisor.process.spawn import start_process
    from supervisor.process.spec import (
        COOKIE_VAR,
        PARAMETERS_VAR,
        ProcessInfo,
        ProcessSpec,
        entrypoint_argv,
    )
    from supervisor.process.subreaper import disable_subreaper, enable_subreaper, is_subreaper
    from supervisor.process.sweep import sweep_leftovers

_EXPORTS = {
    "COOKIE_VAR": "spec",
    "PARAMETERS_VAR": "spec",
    "ProcessSpec": "spec",
    "ProcessInfo": "spec",
    "entrypoint_argv": "spec",
    "ExitReason": "exits",
    "ExitResult": "exits",
    "explain_returncode": "exits",
    "RunProcess": "run",
    "start_process": "spawn",
    "enable_subreaper": "subreaper",
    "disable_subreaper": "subreaper",
    "is_subreaper": "subreaper",
    "sweep_leftovers": "sweep",
    "raise_open_files_limit": "limits",
}
__all__ = [
    "COOKIE_VAR",
    "PARAMETERS_VAR",
    "ExitReason",
    "ExitResult",
    "ProcessInfo",
    "ProcessSpec",
    "RunProcess",
    "disable_subreaper",
    "enable_subreaper",
    "entrypoint_argv",
    "explain_returncode",
    "is_subreaper",
    "raise_open_files_limit",
    "start_process",
    "sweep_leftovers",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'supervisor.process' has no attribute {name!r}")
    return getattr(importlib.import_module(f"supervisor.process.{module}"), name)
