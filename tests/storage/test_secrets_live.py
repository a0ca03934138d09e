"""A token pulls over real smart HTTP and appears nowhere: not in logs, messages, argv, files."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.messages import CheckoutFailed, CheckoutReady
from tests.storage.githttp import GitHttpServer
from tests.storage.repos import RemoteRepo
from tests.storage.rig import Rig

TOKEN = "tok-9f8e7d6c5b4a-SECRET"
PASSWORD = "pw-0a1b2c3d-SECRET"


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    rig.stop()


@pytest.fixture
def git_calls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Put a `git` wrapper first on PATH that records each call's argv and run cookie."""
    log = tmp_path / "git-calls.log"
    wrapper = tmp_path / "wrap" / "git"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        f'printf \'argv: %s cookie: %s\\n\' "$*" "${{SUPERVISOR_RUN_ID:-none}}" >> {log}\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{__import__('os').environ['PATH']}")
    monkeypatch.setenv("SUPERVISOR_RUN_ID", "a-run-the-supervisor-is-in")
    return log


def secret_forms(*secrets: str) -> list[str]:
    forms = list(secrets)
    for secret in secrets:
        for user in ("x-access-token", "bob"):
            forms.append(base64.b64encode(f"{user}:{secret}".encode()).decode())
    return forms


def test_a_token_is_used_for_the_pull_and_appears_nowhere(
    rig: Rig,
    remote: RemoteRepo,
    tmp_path: Path,
    git_calls: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SUP_TEST_TOKEN", TOKEN)
    messages: list[str] = []
    with GitHttpServer(remote.bare.parent, "x-access-token", TOKEN) as server:
        name, puller = rig.start(url=server.url("remote.git"), token_env="SUP_TEST_TOKEN")
        good = rig.prepare(puller)
        assert isinstance(good, CheckoutReady), good
        assert (Path(good.path) / "flow.py").read_text() == "VERSION = 1\n"
        assert server.seen[-1] == "Basic " + secret_forms(TOKEN)[1]  # the token did the work

        # A revoked token: the pull fails, says why, and the run falls back to the last good code.
        monkeypatch.setenv("SUP_TEST_TOKEN", TOKEN + "-revoked")
        rig.clock.advance(120)
        stale = rig.prepare(puller)
        assert isinstance(stale, CheckoutReady) and stale.commit == good.commit
        assert "authentication failed" in rig.owns(name)["last_error"]
        messages.append(rig.owns(name)["last_error"])

        # A password in the URL, and a repository that is not there.
        url = server.url("missing.git").replace("http://", f"http://bob:{PASSWORD}@")
        _, broken = rig.start(url=url)
        failed = rig.prepare(broken, uuid.uuid4())
        assert isinstance(failed, CheckoutFailed)
        assert failed.message.startswith("code pull failed: ")
        messages.append(failed.message)
        board = json.dumps(rig.board.tree(), default=str)

    forms = secret_forms(TOKEN, TOKEN + "-revoked", PASSWORD)
    calls = git_calls.read_text()
    assert "fetch" in calls
    assert "cookie: none" in calls and "a-run-the-supervisor-is-in" not in calls
    for text in (caplog.text, board, calls, *messages):
        for form in forms:
            assert form not in text
    files = [p for p in rig.work_dir.rglob("*") if p.is_file()]
    assert any(p.name == "config" for p in files)  # the repository's config was searched too
    for path in files:
        data = path.read_bytes()
        for form in forms:
            assert form.encode() not in data, f"{form!r} found in {path}"
