"""`python -m supervisor.process.entrypoint ENTRYPOINT`: a run's Python function in its own process.

ENTRYPOINT is `path/to/file.py:func` (relative to the working directory) or `package.module:func`;
the function is called with the JSON object in SUPERVISOR_PARAMETERS as keyword arguments (an
`async def` is run with asyncio). On failure: the traceback of the user's code, then a one-line
reason as the last line of stderr; exit 2 for a bad entrypoint or parameters, 1 when user code
raised (the reason is also written to $SUPERVISOR_FAILURE_FILE: the run ends FAILED with it).
Imports stay minimal: this runs in every entrypoint run's child before the user's code.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import json
import os
import sys
import traceback
from types import ModuleType
from typing import Any, NoReturn

from supervisor.process.names import FAILURE_VAR, PARAMETERS_VAR

USAGE = 2
USER_ERROR = 1


def _fail(reason: str, error: BaseException | None = None, code: int = USAGE) -> NoReturn:
    if error is not None:
        tb = error.__traceback__
        while tb is not None and _is_ours(tb.tb_frame.f_code.co_filename):
            tb = tb.tb_next
        traceback.print_exception(type(error), error, tb, file=sys.stderr)
    print(f"supervisor entrypoint: {reason}", file=sys.stderr, flush=True)
    if code == USER_ERROR and os.environ.get(FAILURE_VAR):
        try:
            with open(os.environ[FAILURE_VAR], "w", encoding="utf-8") as handle:
                handle.write(reason[:2000])
        except OSError:
            pass  # the run then ends CRASHED with the exit code: still explained in its log
    sys.exit(code)


def _is_ours(filename: str) -> bool:
    return filename == __file__ or "importlib" in filename


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _load_file(target: str) -> ModuleType:
    path = os.path.abspath(target)
    if not os.path.isfile(path):
        _fail(f"{target}: no such file (working directory {os.getcwd()})")
    sys.path.insert(0, os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        _fail(f"{target}: cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as error:
        _fail(f"importing {target} failed: {_describe(error)}", error, USER_ERROR)
    return module


def _load_module(target: str) -> ModuleType:
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name and (target == error.name or target.startswith(error.name + ".")):
            _fail(f"no module named {error.name!r} (working directory {os.getcwd()})")
        _fail(f"importing {target} failed: {_describe(error)}", error, USER_ERROR)
    except Exception as error:
        _fail(f"importing {target} failed: {_describe(error)}", error, USER_ERROR)


def load(entrypoint: str) -> Any:
    target, sep, name = entrypoint.rpartition(":")
    if not sep or not target or not name:
        _fail(
            f"entrypoint {entrypoint!r} is not 'path/file.py:function' or 'package.module:function'"
        )
    is_file = target.endswith(".py") or "/" in target
    obj: Any = _load_file(target) if is_file else _load_module(target)
    for part in name.split("."):
        if not hasattr(obj, part):
            _fail(f"{target} has no attribute {name!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        _fail(f"{entrypoint} is not callable")
    return obj


def parameters() -> dict[str, Any]:
    raw = os.environ.get(PARAMETERS_VAR, "{}")
    try:
        value = json.loads(raw)
    except ValueError as error:
        _fail(f"{PARAMETERS_VAR} is not valid JSON: {error}")
    if not isinstance(value, dict):
        _fail(f"{PARAMETERS_VAR} must be a JSON object, got {type(value).__name__}")
    return value


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        _fail("usage: python -m supervisor.process.entrypoint path/to/file.py:function")
    func = load(argv[0])
    params = parameters()
    try:
        inspect.signature(func).bind(**params)
    except TypeError as error:
        _fail(f"{argv[0]} does not accept the parameters {sorted(params)}: {error}")
    except ValueError:
        pass  # no signature to check (some builtins): let the call decide
    try:
        result = func(**params)
        if inspect.iscoroutine(result):
            import asyncio

            asyncio.run(result)
    except Exception as error:
        _fail(f"{argv[0]} raised {_describe(error)}", error, USER_ERROR)


if __name__ == "__main__":
    main(sys.argv[1:])
