"""Real git repositories for the storage tests: a bare remote and commits made with `git -C`."""

from __future__ import annotations

import subprocess
from pathlib import Path

ISOLATED_GIT_ENV = {
    "GIT_CONFIG_GLOBAL": "/dev/null",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.invalid",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.invalid",
}


def git(*args: str | Path) -> str:
    done = subprocess.run(
        ["git", *map(str, args)], capture_output=True, text=True, timeout=30, check=False
    )
    if done.returncode != 0:
        raise AssertionError(f"git {args} failed: {done.stderr}")
    return done.stdout.strip()


class RemoteRepo:
    """A bare repository (`self.bare`) and a work clone that pushes to it."""

    def __init__(self, root: Path, branch: str = "main") -> None:
        self.bare = root / "remote.git"
        self.work = root / "author"
        self.branch = branch
        git("init", "-q", "--bare", "-b", branch, self.bare)
        git("init", "-q", "-b", branch, self.work)

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def commit(
        self, files: dict[str, str], message: str = "change", branch: str | None = None
    ) -> str:
        """Write `files`, commit, push to `branch` (default: the main branch); return the sha."""
        branch = branch or self.branch
        for name, text in files.items():
            path = self.work / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("-C", self.work, "add", "-A")
        git("-C", self.work, "commit", "-q", "-m", message)
        git("-C", self.work, "push", "-q", self.bare, f"+HEAD:refs/heads/{branch}")  # may rewrite
        return git("-C", self.work, "rev-parse", "HEAD")
