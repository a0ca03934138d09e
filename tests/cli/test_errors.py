"""Bad input through `python -m supervisor`: one line on stderr naming what is wrong, exit 2 for
usage and config errors and 1 for runtime ones, no traceback, the database untouched."""

from __future__ import annotations

import sqlite3
import uuid

import pytest

from tests.cli.conftest import Cli, fingerprint


def created_database(cli: Cli) -> Cli:
    assert cli("deployments").code == 0
    return cli


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "adhoc", "--param", "x"], "run: --param 'x' must look like key=value"),
        (["run", "adhoc", "--at", "tomorrow"], "run: --at 'tomorrow' is not an ISO-8601 time"),
        (["runs", "--state", "done"], "runs: --state 'done' is not a state type (one of: SCHED"),
        (["cancel", "not-a-uuid"], "cancel: 'not-a-uuid' is not a run id"),
        (["logs", "42"], "logs: '42' is not a run id"),
    ],
)
def test_usage_errors_exit_2_before_the_database_is_opened(cli, argv, expected):
    result = cli(*argv)
    assert result.code == 2
    assert result.error_line.startswith(expected)
    assert result.stdout == ""
    assert not cli.database.exists()


def test_an_unknown_deployment_exits_1_naming_it_and_the_config(cli):
    result = cli("run", "nope")
    assert result.code == 1
    assert result.error_line == (
        "run: no deployment named 'nope' in supervisor.toml (known: ticker, adhoc)"
    )


@pytest.mark.parametrize("command", ["cancel", "logs"])
def test_an_unknown_run_id_exits_1_naming_it_and_the_database(cli, command):
    created_database(cli)
    before = fingerprint(cli.database)
    run_id = uuid.uuid4()
    result = cli(command, str(run_id))
    assert result.code == 1
    assert result.error_line == f"{command}: no run with id '{run_id}' in .supervisor/state.db"
    assert fingerprint(cli.database) == before


@pytest.mark.parametrize("argv", [["runs"], ["run", "adhoc"], ["deployments"]])
def test_a_file_that_is_not_sqlite_is_refused_and_left_alone(cli, argv):
    cli.database.parent.mkdir(parents=True)
    cli.database.write_bytes(b"these are someone's notes, not a database\n" * 50)
    before = fingerprint(cli.database)
    result = cli(*argv)
    assert result.code == 1
    assert "state.db" in result.error_line and "not a SQLite database" in result.error_line
    assert fingerprint(cli.database) == before
    assert sorted(p.name for p in cli.database.parent.iterdir()) == ["state.db"]


def test_a_database_with_a_newer_schema_is_refused_and_left_alone(cli):
    created_database(cli)
    with sqlite3.connect(cli.database) as conn:
        conn.execute("PRAGMA user_version = 999")
    conn.close()
    before = fingerprint(cli.database)
    result = cli("run", "adhoc")
    assert result.code == 1
    assert "state.db" in result.error_line and "schema version 999" in result.error_line
    assert fingerprint(cli.database) == before


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (('cron = "0 3 1 1 *"', 'cron = "61 * * * *"'), ["deployments[0] (ticker)", "cron", "61"]),
        (('name = "cli-test"', 'name = "cli-test"\nlimit = 0'), ["supervisor.limit", "0"]),
        (('poll_interval = 0.2', 'poll_interval = 0.2\ncolour = "red"'), ["supervisor.colour"]),
    ],
)
def test_a_bad_config_exits_2_naming_the_file_field_and_value(cli, edit, named):
    cli.config.write_text(cli.config.read_text().replace(*edit))
    result = cli("deployments")
    assert result.code == 2
    assert result.error_line.startswith(f"{cli.config}: ")
    assert all(part in result.error_line for part in named), result.error_line
    assert not cli.database.exists()


def test_a_missing_config_exits_2_naming_it(cli):
    result = cli("runs", config=False, SUPERVISOR_CONFIG="nowhere.toml")
    assert result.code == 2
    assert result.error_line == "nowhere.toml: no such settings file"


def test_an_argparse_error_exits_2_without_a_traceback(cli):
    result = cli("runs", "--limit", "0")
    assert result.code == 2
    assert "Traceback" not in result.stderr and "--limit" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["runs", "--limit", "99999999999999999999999"],
        ["start", "--drain", "1e308"],
    ],
)
def test_numbers_too_large_to_use_exit_2_naming_the_option(cli, argv):
    result = cli(*argv)
    assert result.code == 2
    assert argv[1] in result.stderr and "at most" in result.stderr
    assert "Traceback" not in result.stderr and "Overflow" not in result.stderr


def test_an_empty_database_variable_exits_2_naming_it(cli):
    result = cli("runs", SUPERVISOR_DATABASE="")
    assert result.code == 2
    assert "supervisor.database: must not be empty" in result.error_line
    assert "from $SUPERVISOR_DATABASE" in result.error_line


def test_a_log_dir_that_is_a_file_exits_2_naming_the_field(cli):
    (cli.root / "afile").write_text("")
    cli.config.write_text(cli.config.read_text().replace(".supervisor/logs", "afile"))
    result = cli("start", "--once")
    assert result.code == 2
    assert "supervisor.log_dir: is a file, not a directory" in result.error_line
