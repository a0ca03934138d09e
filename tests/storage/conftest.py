"""Storage tests: git isolated from the machine's config (global, system, author identity)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.storage.repos import ISOLATED_GIT_ENV, RemoteRepo


@pytest.fixture(autouse=True)
def isolated_git(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in ISOLATED_GIT_ENV.items():
        monkeypatch.setenv(key, value)


@pytest.fixture
def remote(tmp_path: Path) -> RemoteRepo:
    repo = RemoteRepo(tmp_path / "origin")
    repo.commit({"flow.py": "VERSION = 1\n", "pkg/util.py": "X = 1\n"}, "first")
    return repo
