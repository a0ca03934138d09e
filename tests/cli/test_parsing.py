"""Parsing of command-line values and the command table, in-process (no database involved)."""

from __future__ import annotations

import argparse
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from supervisor.cli import COMMANDS, build_parser, main
from supervisor.cli.output import table, when
from supervisor.cli.parsing import (
    non_negative_float,
    parse_params,
    parse_run_id,
    parse_state,
    parse_time,
    positive_int,
)
from supervisor.errors import UsageError
from supervisor.models import StateType


def test_params_are_json_when_they_parse_and_text_otherwise():
    params = parse_params(
        ["n=3", "flag=true", "who=world", "x=1.5", 'obj={"a": [1]}', "empty=", "eq=a=b", "nan=NaN"]
    )
    assert params == {
        "n": 3,
        "flag": True,
        "who": "world",
        "x": 1.5,
        "obj": {"a": [1]},
        "empty": "",
        "eq": "a=b",
        "nan": "NaN",
    }


def test_a_later_param_wins():
    assert parse_params(["n=1", "n=2"]) == {"n": 2}


@pytest.mark.parametrize("bad", ["x", "=3", " =3"])
def test_a_param_without_key_and_equals_is_a_usage_error(bad):
    with pytest.raises(UsageError, match=r"--param .* must look like key=value"):
        parse_params([bad])


def test_a_time_without_timezone_is_local_time():
    naive = datetime(2030, 1, 31, 9, 30)
    assert parse_time("2030-01-31T09:30") == naive.astimezone()


def test_a_time_with_timezone_keeps_it():
    moment = parse_time("2030-01-31T09:30:00+02:00")
    assert moment is not None
    assert moment.utcoffset() == timedelta(hours=2)
    assert parse_time("2030-01-31T07:30:00Z") == moment


def test_a_bad_time_names_the_option_and_value():
    with pytest.raises(UsageError, match="--at 'tomorrow' is not an ISO-8601 time"):
        parse_time("tomorrow")


def test_state_types_are_case_insensitive():
    assert parse_state("running") is StateType.RUNNING
    assert parse_state("Cancelling") is StateType.CANCELLING


def test_an_unknown_state_lists_the_valid_ones():
    with pytest.raises(UsageError) as caught:
        parse_state("done")
    message = str(caught.value)
    assert "'done'" in message
    assert all(t.value in message for t in StateType)


def test_run_ids_are_uuids():
    run_id = uuid.uuid4()
    assert parse_run_id(str(run_id)) == run_id
    with pytest.raises(UsageError, match="'123' is not a run id"):
        parse_run_id("123")


@pytest.mark.parametrize("bad", ["0", "-1", "x"])
def test_limits_are_positive_whole_numbers(bad):
    with pytest.raises(argparse.ArgumentTypeError):
        positive_int(bad)
    assert positive_int("5") == 5


@pytest.mark.parametrize("bad", ["-1", "nan", "inf", "x"])
def test_drain_is_a_finite_non_negative_number(bad):
    with pytest.raises(argparse.ArgumentTypeError):
        non_negative_float(bad)
    assert non_negative_float("2.5") == 2.5


def test_tables_align_columns_without_trailing_blanks():
    text = table(("A", "BB"), [("long value", "x"), ("s", "")])
    assert text.splitlines() == ["A           BB", "long value  x", "s"]


def test_times_print_in_local_time_to_the_second():
    moment = datetime(2030, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert when(moment) == moment.astimezone().isoformat(sep=" ", timespec="seconds")
    assert when(None) == "-"


def test_every_command_has_the_fixed_shape_and_help(capsys):
    names = [module.NAME for module in COMMANDS]
    assert names == ["start", "deployments", "run", "runs", "cancel", "retry", "pause", "resume",
                     "logs", "status", "execute"]
    for module in COMMANDS:
        assert module.HELP and callable(module.add_arguments) and callable(module.run)
        with pytest.raises(SystemExit) as caught:
            main([module.NAME, "--help"])
        assert caught.value.code == 0
        assert f"usage: supervisor {module.NAME}" in capsys.readouterr().out


@pytest.mark.parametrize("name", ["deployments", "run", "runs", "cancel", "status"])
def test_every_command_that_prints_data_takes_json(name):
    parser = build_parser()
    extra = {"run": ["x"], "cancel": [str(uuid.uuid4())]}.get(name, [])
    assert parser.parse_args([name, *extra, "--json"]).json is True


def test_config_is_accepted_before_and_after_the_command():
    parser = build_parser()
    assert parser.parse_args(["--config", "a.toml", "runs"]).config == "a.toml"
    assert parser.parse_args(["runs", "--config", "b.toml"]).config == "b.toml"
    assert parser.parse_args(["runs"]).config is None


def test_no_command_prints_help_and_exits_2(capsys):
    assert main([]) == 2
    assert "usage: supervisor" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["runs", "--limit", "0"], ["start", "--drain", "-1"], ["nope"], ["run"], ["cancel"]],
)
def test_argparse_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    assert "Traceback" not in capsys.readouterr().err
