"""Settings: the TOML file, its lookup order, environment overrides, and every bad input as a
one-line ConfigError naming the file, the field and the value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from supervisor import settings as settings_module
from supervisor.errors import ConfigError
from supervisor.settings import (
    DeploymentSettings,
    OpsSection,
    Settings,
    StorageSettings,
    SupervisorSection,
    config_path_from,
    load_settings,
    parse_settings,
)

ROOT = Path(__file__).resolve().parents[1]
ISSUE_EXAMPLE = """
[supervisor]
name = "edge-1"
limit = 4
poll_interval = 1.0
prefetch = 10.0
cancel_poll_interval = 0.5
kill_grace = 10.0
database = ".supervisor/state.db"
log_dir = ".supervisor/logs"

[ops]
host = "127.0.0.1"
port = 8765
token_env = "SUPERVISOR_TOKEN"

[[deployments]]
name = "hello"
command = ["python", "-c", "print('hello')"]
parameters = { who = "world" }
interval = 60
timezone = "UTC"
kill_grace = 5.0
timeout = 3600
tags = ["demo"]

[deployments.storage]
url = "file:///srv/repos/etl.git"
branch = "main"
pull_interval = 60

[[deployments]]
name = "nightly"
entrypoint = "flows/etl.py:main"
cron = "30 2 * * *"
timezone = "Europe/Berlin"

[[deployments]]
name = "hourly"
command = ["true"]
rrule = "FREQ=HOURLY;BYMINUTE=0"
"""


def write(tmp_path: Path, text: str, name: str = "supervisor.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_issue_example_parses(tmp_path: Path) -> None:
    path = write(tmp_path, ISSUE_EXAMPLE)
    settings = load_settings(path, env={})
    assert settings.supervisor.name == "edge-1" and settings.supervisor.limit == 4
    assert settings.supervisor.database == tmp_path / ".supervisor/state.db"
    assert settings.supervisor.log_dir == tmp_path / ".supervisor/logs"
    hello, nightly, hourly = settings.deployments
    assert hello.command == ("python", "-c", "print('hello')")
    assert hello.parameters == {"who": "world"} and hello.schedule_kind == "interval"
    assert hello.storage is not None and hello.storage.url == "file:///srv/repos/etl.git"
    assert settings.kill_grace_for(hello) == 5.0 and settings.kill_grace_for(nightly) == 10.0
    assert nightly.entrypoint == "flows/etl.py:main" and nightly.schedule_kind == "cron"
    assert hourly.schedule_kind == "rrule"
    assert settings.deployment("nightly") is nightly and settings.deployment("nope") is None


def test_the_repository_example_parses() -> None:
    settings = load_settings(ROOT / "supervisor.toml", env={})
    kinds = {d.name: d.schedule_kind for d in settings.deployments}
    assert "interval" in kinds.values() and None in kinds.values()


def test_defaults_for_an_empty_file(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ""), env={})
    assert settings.deployments == () and settings.supervisor.limit >= 1
    assert settings.ops.host == "127.0.0.1"
    assert settings.supervisor.database.is_absolute()


def test_absolute_paths_are_kept(tmp_path: Path) -> None:
    path = write(tmp_path, '[supervisor]\ndatabase = "/var/lib/sv/state.db"\n')
    assert load_settings(path, env={}).supervisor.database == Path("/var/lib/sv/state.db")


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert config_path_from(None, {}) == Path("supervisor.toml")
    assert config_path_from(None, {"SUPERVISOR_CONFIG": "/etc/sv.toml"}) == Path("/etc/sv.toml")
    assert config_path_from("mine.toml", {"SUPERVISOR_CONFIG": "/etc/sv.toml"}) == Path(
        "mine.toml")
    write(tmp_path, '[supervisor]\nname = "here"\n')
    write(tmp_path, '[supervisor]\nname = "env"\n', "other.toml")
    assert load_settings(env={}).supervisor.name == "here"
    assert load_settings(env={"SUPERVISOR_CONFIG": "other.toml"}).supervisor.name == "env"


# -- environment overrides -------------------------------------------------------------------

def test_a_file_value_error_does_not_blame_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "[supervisor]\nlimit = 0\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"SUPERVISOR_OPS_PORT": "1"})
    assert "$SUPERVISOR" not in str(caught.value)


def test_env_overrides_win_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[supervisor]\nlimit = 2\n[ops]\nport = 9000\n")
    env = {"SUPERVISOR_LIMIT": "8", "SUPERVISOR_OPS_PORT": "0", "SUPERVISOR_NAME": "edge-9"}
    settings = load_settings(path, env=env)
    assert (settings.supervisor.limit, settings.ops.port) == (8, 0)
    assert settings.supervisor.name == "edge-9"


PREFECT = '[control_plane]\nkind = "prefect"\njournal = "state/journal.db"\n'


def test_prefect_control_plane_takes_prefect_api_url_when_the_key_is_absent(
    tmp_path: Path,
) -> None:
    env = {"PREFECT_API_URL": "http://127.0.0.1:4200/api/", "SUPERVISOR_CONTROL_PLANE_TIMEOUT": "3"}
    plane = load_settings(write(tmp_path, PREFECT), env=env).control_plane
    assert (plane.kind, plane.api_url, plane.timeout) == ("prefect", "http://127.0.0.1:4200/api", 3)
    assert plane.journal == tmp_path / "state" / "journal.db"
    written = PREFECT + 'api_url = "https://prefect.example/api"\n'
    assert load_settings(write(tmp_path, written), env=env).control_plane.api_url == (
        "https://prefect.example/api")


@pytest.mark.parametrize(("text", "says"), [
    (PREFECT, 'control_plane: api_url: required when kind = "prefect"'),
    (PREFECT + 'api_url = "127.0.0.1:4200"\n',
     "control_plane.api_url: must be an http:// or https:// URL (got '127.0.0.1:4200')"),
    ('[control_plane]\nkind = "cloud"\n', "control_plane.kind"),
    (PREFECT + 'api_url = "http://x/api"\ntimeout = 0\n', "control_plane.timeout"),
])
def test_bad_control_plane_tables(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(says)):
        load_settings(write(tmp_path, text), env={})


def test_unrelated_supervisor_variables_are_ignored(tmp_path: Path) -> None:
    env = {"SUPERVISOR_RUN_ID": "x", "SUPERVISOR_TEST_SESSION": "y", "SUPERVISOR_TOKEN": "t"}
    assert load_settings(write(tmp_path, ""), env=env).supervisor.limit == 4


def test_os_environ_is_read_when_no_env_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SUPERVISOR_LIMIT", "3")
    assert load_settings(write(tmp_path, "")).supervisor.limit == 3


@pytest.mark.parametrize(("env", "says"), [
    ({"SUPERVISOR_LIMIT": "zero"}, ["supervisor.limit", "'zero'", "from $SUPERVISOR_LIMIT"]),
    ({"SUPERVISOR_LIMIT": "0"}, ["supervisor.limit", "'0'", "from $SUPERVISOR_LIMIT"]),
    ({"SUPERVISOR_OPS_PORT": "http"}, ["ops.port", "'http'", "from $SUPERVISOR_OPS_PORT"]),
    ({"SUPERVISOR_OPS_PORT": "70000"}, ["ops.port", "'70000'", "from $SUPERVISOR_OPS_PORT"]),
])
def test_bad_env_overrides(tmp_path: Path, env: dict[str, str], says: list[str]) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env=env)
    assert_one_line(str(caught.value), path, says)


# -- bad input -------------------------------------------------------------------------------

def assert_one_line(message: str, path: Path, says: list[str]) -> None:
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    for part in says:
        assert part in message, message


DEP = 'name = "a"\ncommand = ["true"]\n'
BAD = {
    "unknown top-level key": ("bogus = 1\n", ["bogus", "unknown key"]),
    "unknown supervisor key": ("[supervisor]\nlmit = 3\n", ["supervisor.lmit", "unknown key"]),
    "unknown deployment key": (f"[[deployments]]\n{DEP}shedule = 3\n",
                               ["deployments[0] (a).shedule", "unknown key"]),
    "wrong type": ('[supervisor]\nlimit = "four"\n', ["supervisor.limit", "'four'"]),
    "wrong type float": ("[supervisor]\npoll_interval = [1]\n", ["poll_interval", "[1]"]),
    "wrong type parameters": (f"[[deployments]]\n{DEP}parameters = 3\n",
                              ["deployments[0] (a).parameters", "3"]),
    "bad cron": (f'[[deployments]]\n{DEP}cron = "61 * * * *"\n', ["(a)", "cron", "'61 * * * *'"]),
    "never-firing cron": (f'[[deployments]]\n{DEP}cron = "0 0 30 2 *"\n',
                          ["cron", "'0 0 30 2 *'", "never fires"]),
    "bad rrule": (f'[[deployments]]\n{DEP}rrule = "FREQ=SOMETIMES"\n',
                  ["(a)", "rrule", "'FREQ=SOMETIMES'"]),
    "bad timezone": (f'[[deployments]]\n{DEP}cron = "0 * * * *"\ntimezone = "Mars/Olympus"\n',
                     ["deployments[0] (a).timezone", "'Mars/Olympus'", "IANA"]),
    "bad anchor": (f'[[deployments]]\n{DEP}interval = 5\nanchor = "soon"\n',
                   ["anchor", "'soon'"]),
    "two schedules": (f'[[deployments]]\n{DEP}interval = 5\ncron = "* * * * *"\n',
                      ["(a)", "at most one schedule"]),
    "duplicate names": (f"[[deployments]]\n{DEP}[[deployments]]\n{DEP}",
                        ["deployments[1].name", "'a'", "two deployments"]),
    "both command and entrypoint": (f'[[deployments]]\n{DEP}entrypoint = "f.py:main"\n',
                                    ["(a)", "`command`", "`entrypoint`"]),
    "neither command nor entrypoint": ('[[deployments]]\nname = "a"\n',
                                       ["(a)", "`command`", "`entrypoint`"]),
    "empty command": ('[[deployments]]\nname = "a"\ncommand = []\n',
                      ["deployments[0] (a).command", "[]"]),
    "empty program": ('[[deployments]]\nname = "a"\ncommand = [""]\n',
                      ["deployments[0] (a).command", "['']"]),
    "command as a string": ('[[deployments]]\nname = "a"\ncommand = "echo hi"\n',
                            ["deployments[0] (a).command", "'echo hi'", "not a shell string"]),
    "bad entrypoint": ('[[deployments]]\nname = "a"\nentrypoint = "main"\n',
                       ["(a)", "entrypoint", "'main'"]),
    "limit = 0": ("[supervisor]\nlimit = 0\n", ["supervisor.limit", "0"]),
    "'/' in supervisor name": ('[supervisor]\nname = "edge/1"\n', ["supervisor.name", "'edge/1'"]),
    "'%' in supervisor name": ('[supervisor]\nname = "edge%1"\n', ["supervisor.name", "'edge%1'"]),
    "'/' in deployment name": ('[[deployments]]\nname = "a/b"\ncommand = ["true"]\n',
                               ["deployments[0] (a/b).name", "'a/b'"]),
    "empty deployment name": ('[[deployments]]\nname = ""\ncommand = ["true"]\n',
                              ["deployments[0].name", "''"]),
    "missing deployment name": ('[[deployments]]\ncommand = ["true"]\n',
                                ["deployments[0].name", "required"]),
    "interval = 0": (f"[[deployments]]\n{DEP}interval = 0\n", ["(a).interval", "0"]),
    "negative kill grace": ("[supervisor]\nkill_grace = -1\n", ["supervisor.kill_grace", "-1"]),
    "port out of range": ("[ops]\nport = 70000\n", ["ops.port", "70000"]),
    "storage with url and path": (
        f'[[deployments]]\n{DEP}[deployments.storage]\nurl = "x"\npath = "/y"\n',
        ["deployments[0] (a).storage", "`url`", "`path`"]),
    "deployments not an array of tables": ('[deployments]\nname = "a"\n',
                                           ["deployments", "[[deployments]]"]),
    "huge limit": ("[supervisor]\nlimit = 99999999999999999999\n",
                   ["supervisor.limit", "99999999999999999999", "at most 10000"]),
    "huge interval": (f"[[deployments]]\n{DEP}interval = 1e308\n",
                      ["deployments[0] (a).interval", "1e+308", "at most"]),
    "infinite poll interval": ("[supervisor]\npoll_interval = inf\n",
                               ["supervisor.poll_interval", "inf", "at most"]),
    "tiny interval": (f"[[deployments]]\n{DEP}interval = 1e-9\n",
                      ["deployments[0] (a).interval", "1e-09", "at least 0.01"]),
    "huge timeout": (f"[[deployments]]\n{DEP}timeout = 1e300\n", ["(a).timeout", "at most"]),
    "huge prefetch": ("[supervisor]\nprefetch = 1e9\n", ["supervisor.prefetch", "at most"]),
    "huge kill grace": ("[supervisor]\nkill_grace = 1e20\n", ["supervisor.kill_grace"]),
    "newline in deployment name": ('[[deployments]]\nname = "a\\nb"\ncommand = ["true"]\n',
                                   ["deployments[0]", ".name", "'a\\nb'", "printable"]),
    "NUL in supervisor name": ('[supervisor]\nname = "a\\u0000b"\n',
                               ["supervisor.name", "'a\\x00b'", "printable"]),
    "long supervisor name": ('[supervisor]\nname = "' + "x" * 101 + '"\n',
                             ["supervisor.name", "at most 100 characters"]),
    "empty database": ('[supervisor]\ndatabase = ""\n', ["supervisor.database", "empty"]),
    "supervisor not a table": ("supervisor = 3\n", ["supervisor", "must be a table", "3"]),
    "storage not a table": (f"[[deployments]]\n{DEP}storage = 3\n",
                            ["(a).storage", "must be a table"]),
    "tags not a list": (f'[[deployments]]\n{DEP}tags = "x"\n', ["(a).tags", "must be a list"]),
    "cwd not a path": (f"[[deployments]]\n{DEP}cwd = 3\n", ["(a).cwd", "must be a path"]),
    "rrule without FREQ": (f'[[deployments]]\n{DEP}rrule = "BYHOUR=9"\n',
                           ["(a).rrule", "'BYHOUR=9'", "needs FREQ="]),
    # the policy keys (issue 14)
    "negative retries": (f"[[deployments]]\n{DEP}retries = -1\n", ["(a).retries", "-1"]),
    "retry_delay a word": (f'[[deployments]]\n{DEP}retry_delay = "soon"\n',
                           ["(a).retry_delay", "'soon'", "a number or a list of numbers"]),
    "retry_delay a bad list": (f'[[deployments]]\n{DEP}retry_delay = [1, "x"]\n',
                               ["(a).retry_delay", "[1, 'x']", "a list of numbers"]),
    "negative retry_delay": (f"[[deployments]]\n{DEP}retry_delay = [10, -1]\n",
                             ["(a).retry_delay", "every delay must be from 0"]),
    "retry_on cancelled": (f'[[deployments]]\n{DEP}retry_on = ["cancelled"]\n',
                           ["(a).retry_on[0]", "'cancelled'", "'failed' or 'crashed'"]),
    "concurrency = 0": (f"[[deployments]]\n{DEP}concurrency = 0\n",
                        ["(a).concurrency", "at least 1"]),
    "bad collision": (f'[[deployments]]\n{DEP}collision = "drop"\n',
                      ["(a).collision", "'drop'", "'enqueue' or 'cancel-new'"]),
    "skip before late": (f"[[deployments]]\n{DEP}late_after = 600\nskip_late_after = 60\n",
                         ["(a).skip_late_after", "at least late_after (600)"]),
    "hook as a string": (f'[[deployments]]\n{DEP}on_failure = "notify-send x"\n',
                         ["(a).on_failure", "not a shell string"]),
    "empty hook": (f"[[deployments]]\n{DEP}on_completion = []\n",
                   ["(a).on_completion", "non-empty argv list"]),
}

INTERNALS = ("Input should", "instance of", "<class", "__init__", "positional argument")


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_is_one_line_naming_file_field_and_value(tmp_path: Path, case: str) -> None:
    text, says = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert_one_line(str(caught.value), path, says)
    for internal in INTERNALS:
        assert internal not in str(caught.value)


@pytest.mark.parametrize(("text", "says"), [
    ('[supervisor]\nlog_dir = "afile"\n', ["supervisor.log_dir", "is a file, not a directory"]),
    ('[supervisor]\nwork_dir = "afile/sub"\n', ["supervisor.work_dir", "afile is a file"]),
    ('[supervisor]\ndatabase = "."\n', ["supervisor.database", "is a directory, not a file"]),
    ('[supervisor]\ndatabase = "afile/state.db"\n', ["supervisor.database", "afile is a file"]),
])
def test_paths_that_cannot_be_used_are_refused_naming_the_field(
    tmp_path: Path, text: str, says: list[str]
) -> None:
    (tmp_path / "afile").write_text("")
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert_one_line(str(caught.value), path, says)


def test_an_empty_database_variable_is_refused_naming_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={"SUPERVISOR_DATABASE": ""})
    assert_one_line(str(caught.value), path,
                    ["supervisor.database", "empty", "from $SUPERVISOR_DATABASE"])


@pytest.mark.parametrize(("make", "says"), [
    (lambda p: None, "no such settings file"),
    (lambda p: p.mkdir(), "is a directory"),
    (lambda p: p.write_text("[supervisor\nlimit = 1\n"), "not valid TOML"),
    (lambda p: p.write_bytes(b"\xff\xfe"), "not valid TOML"),
], ids=["missing", "directory", "broken", "binary"])
def test_unreadable_files(tmp_path: Path, make: Any, says: str) -> None:
    path = tmp_path / "supervisor.toml"
    make(path)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, env={})
    assert_one_line(str(caught.value), path, [says])


def test_parse_settings_names_the_given_path() -> None:
    path = Path("/nowhere/sv.toml")
    with pytest.raises(ConfigError, match=r"^/nowhere/sv\.toml: supervisor\.limit: "):
        parse_settings({"supervisor": {"limit": 0}}, path, env={})


# -- the models themselves -------------------------------------------------------------------

MODELS: list[type[BaseModel]] = [
    Settings, SupervisorSection, OpsSection, DeploymentSettings, StorageSettings]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_every_field_is_described_and_extra_keys_are_forbidden(model: type[BaseModel]) -> None:
    assert model.model_config.get("extra") == "forbid"
    for name, field in model.model_fields.items():
        assert field.description, f"{model.__name__}.{name} has no description"


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, ISSUE_EXAMPLE), env={})
    with pytest.raises(ValueError):
        settings.supervisor.limit = 9  # type: ignore[misc]
    assert settings_module.ENV_PREFIX == "SUPERVISOR_"


def test_issue_14s_example_parses(tmp_path: Path) -> None:
    path = write(tmp_path, """
[[deployments]]
name = "etl"
command = ["true"]
retries = 3
retry_delay = [10, 60, 300]
retry_on = ["failed", "crashed"]
concurrency = 1
collision = "enqueue"
late_after = 60
skip_late_after = 3600
on_failure = ["notify-send", "etl failed"]
on_cancellation = ["true"]
on_completion = ["true"]
""")
    (etl,) = load_settings(path, env={}).deployments
    assert (etl.retries, etl.retry_delay, etl.retry_on) == (3, (10, 60, 300), ("failed", "crashed"))
    assert (etl.concurrency, etl.collision) == (1, "enqueue")
    assert (etl.late_after, etl.skip_late_after) == (60, 3600)
    assert etl.on_failure == ("notify-send", "etl failed")
    plain = load_settings(write(tmp_path, '[[deployments]]\nname = "a"\ncommand = ["true"]\n'),
                          env={}).deployments[0]
    assert (plain.retries, plain.retry_delay, plain.concurrency, plain.on_failure) == (
        0, 0.0, None, None)
