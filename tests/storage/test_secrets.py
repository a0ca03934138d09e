"""Unit tests: keys, redaction, credentials and the git environment never leak a secret."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from supervisor.errors import StorageError
from supervisor.settings import StorageSettings
from supervisor.storage import Redactor, redact_urls, resolve_remote, storage_key
from supervisor.storage.git import git_env, is_disk_full, os_reason, summarize

TOKEN = "ghp_s3cretTokenValue123"


def test_deployments_on_one_repository_and_branch_share_a_key() -> None:
    a = StorageSettings(url="https://h/x.git", branch="main", pull_interval=10)
    b = StorageSettings(url="https://h/x.git", branch="main", pull_interval=99)
    assert storage_key(a) == storage_key(b)
    assert storage_key(a) != storage_key(StorageSettings(url="https://h/x.git", branch="dev"))
    assert storage_key(a) != storage_key(StorageSettings(url="https://h/y.git", branch="main"))


def test_a_pinned_commit_keys_on_the_commit_not_the_branch() -> None:
    pin = "a" * 40
    a = StorageSettings(url="https://h/x.git", commit=pin)
    b = StorageSettings(url="https://h/x.git", commit=pin, branch="other")
    assert storage_key(a) == storage_key(b)
    assert storage_key(a) != storage_key(StorageSettings(url="https://h/x.git"))


def test_a_key_is_a_safe_name_without_secrets() -> None:
    key = storage_key(StorageSettings(url=f"https://u:{TOKEN}@h/x.git"))
    assert key.startswith("storage-")
    assert key.replace("-", "").isalnum()
    assert TOKEN not in key and "u:" not in key
    assert storage_key(StorageSettings(path=Path("/srv/a"))) != storage_key(
        StorageSettings(path=Path("/srv/b"))
    )


def test_url_userinfo_is_redacted_in_any_text() -> None:
    text = f"fatal: unable to access 'https://bob:{TOKEN}@github.com/o/r.git/': 403"
    assert redact_urls(text) == "fatal: unable to access 'https://***@github.com/o/r.git/': 403"
    assert redact_urls("ssh://git@host/r.git") == "ssh://***@host/r.git"
    assert redact_urls("no url here: a@b") == "no url here: a@b"


def test_the_redactor_masks_known_secrets_and_userinfo() -> None:
    redact = Redactor([TOKEN, "ab"])  # too short to mask usefully: ignored
    assert redact(f"token {TOKEN} in http://x:{TOKEN}@h/") == "token *** in http://***@h/"
    assert redact("about") == "about"


def test_a_token_becomes_a_header_in_git_config_env_never_in_the_url() -> None:
    storage = StorageSettings(url="https://github.com/o/r.git", token_env="GH_TOKEN")
    remote = resolve_remote(storage, {"GH_TOKEN": TOKEN})
    assert remote.url == "https://github.com/o/r.git"
    ((key, header),) = remote.config
    encoded = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
    assert (key, header) == ("http.extraHeader", f"Authorization: Basic {encoded}")
    assert remote.redact(f"{header} {TOKEN}") == "Authorization: Basic *** ***"


def test_a_password_in_an_https_url_moves_to_the_header() -> None:
    remote = resolve_remote(StorageSettings(url=f"https://bob:{TOKEN}@h:8443/r.git"), {})
    assert remote.url == "https://h:8443/r.git"
    encoded = base64.b64encode(f"bob:{TOKEN}".encode()).decode()
    assert remote.config == (("http.extraHeader", f"Authorization: Basic {encoded}"),)
    assert TOKEN not in remote.display


def test_a_missing_token_variable_is_a_storage_error_naming_it() -> None:
    storage = StorageSettings(url="https://h/r.git", token_env="GH_TOKEN")
    with pytest.raises(StorageError, match="token_env 'GH_TOKEN' is not set"):
        resolve_remote(storage, {})


def test_git_env_drops_the_run_cookie_the_token_and_repository_overrides() -> None:
    base = {
        "PATH": "/bin",
        "SUPERVISOR_RUN_ID": "r1",
        "GH_TOKEN": TOKEN,
        "GIT_DIR": "/elsewhere",
        "GIT_CONFIG_KEY_0": "core.editor",
        "GIT_CONFIG_GLOBAL": "/dev/null",
    }
    env = git_env(base, [("http.extraHeader", "Authorization: Basic xyz")], drop=["GH_TOKEN"])
    assert "SUPERVISOR_RUN_ID" not in env and "GH_TOKEN" not in env and "GIT_DIR" not in env
    assert env["GIT_CONFIG_GLOBAL"] == "/dev/null" and env["GIT_TERMINAL_PROMPT"] == "0"
    pairs = {
        env[f"GIT_CONFIG_KEY_{i}"]: env[f"GIT_CONFIG_VALUE_{i}"]
        for i in range(int(env["GIT_CONFIG_COUNT"]))
    }
    assert pairs["http.extraHeader"] == "Authorization: Basic xyz"
    assert pairs["gc.auto"] == "0"  # no background gc outliving the command
    assert "core.editor" not in pairs


def test_git_messages_are_summarized_and_disk_full_is_recognised() -> None:
    stderr = "remote: Counting\nerror: unable to write file x: No space left on device\nfatal: x\n"
    assert summarize(stderr) == "unable to write file x: No space left on device; x"
    assert is_disk_full(stderr)
    assert os_reason(OSError(28, "No space left on device", "/w/x")) == "disk full (ENOSPC): /w/x"
