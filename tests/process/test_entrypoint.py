"""Python entrypoint runs: `file.py:func` / `module:func` in a child Python; kwargs from JSON."""

from __future__ import annotations

import json
import os

import pytest

from supervisor.process import PARAMETERS_VAR, entrypoint_argv
from tests.process.helpers import Started
from tests.programs import HERE


def start(entrypoint: str, parameters: object, cwd=HERE.parents[1], raw: str | None = None):
    env = {**os.environ, PARAMETERS_VAR: raw if raw is not None else json.dumps(parameters)}
    return Started(entrypoint_argv(entrypoint), cwd=cwd, env=env)


def test_a_file_entrypoint_gets_its_parameters():
    started = start("tests/programs/flows.py:greet", {"name": "ada", "times": 2})
    assert started.result().returncode == 0
    assert started.lines == ["hello ada", "hello ada"]


def test_a_module_entrypoint_is_imported_from_the_working_directory():
    started = start("flows:greet", {"name": "bob"}, cwd=HERE)
    assert started.result().returncode == 0
    assert started.lines == ["hello bob"]


def test_an_async_entrypoint_is_run():
    started = start("tests/programs/flows.py:agreet", {"name": "cy"})
    assert started.result().returncode == 0
    assert started.lines == ["async hello cy"]


def test_a_raising_entrypoint_shows_the_users_traceback_and_a_reason_last():
    started = start("tests/programs/flows.py:fail", {"message": "boom"})
    result = started.result()
    assert result.returncode == 1
    assert started.lines[-1] == (
        "supervisor entrypoint: tests/programs/flows.py:fail raised RuntimeError: boom"
    )
    assert started.lines[0] == "Traceback (most recent call last):"
    assert any("flows.py" in line and "in fail" in line for line in started.lines)
    assert not any("entrypoint.py" in line for line in started.lines)


@pytest.mark.parametrize(
    ("entrypoint", "parameters", "raw", "reason"),
    [
        ("tests/programs/nope.py:greet", {}, None, "tests/programs/nope.py: no such file"),
        (
            "tests/programs/flows.py:nope",
            {},
            None,
            "tests/programs/flows.py has no attribute 'nope'",
        ),
        ("no_such_module:greet", {}, None, "no module named 'no_such_module'"),
        ("greet", {}, None, "entrypoint 'greet' is not"),
        ("tests/programs/flows.py:greet", None, "{not json", f"{PARAMETERS_VAR} is not valid JSON"),
        ("tests/programs/flows.py:greet", [1], None, f"{PARAMETERS_VAR} must be a JSON object"),
        ("tests/programs/flows.py:greet", {"nom": "x"}, None, "tests/programs/flows.py:greet does"),
    ],
)
def test_a_bad_entrypoint_exits_2_with_one_line(entrypoint, parameters, raw, reason):
    started = start(entrypoint, parameters, raw=raw)
    result = started.result()
    assert result.returncode == 2 and result.message == "exited with code 2"
    assert len(started.lines) == 1
    assert started.lines[0].startswith(f"supervisor entrypoint: {reason}")


def test_an_import_error_in_user_code_shows_its_traceback(tmp_path):
    (tmp_path / "broken.py").write_text("import os\nraise ValueError('at import')\n")
    started = start("broken.py:main", {}, cwd=tmp_path)
    assert started.result().returncode == 1
    assert started.lines[-1] == (
        "supervisor entrypoint: importing broken.py failed: ValueError: at import"
    )
    assert any("broken.py" in line and "line 2" in line for line in started.lines)
