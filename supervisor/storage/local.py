"""Local-directory storage (`path = …`): used as is, never pulled."""

from __future__ import annotations

from pathlib import Path

from supervisor.errors import StorageError
from supervisor.storage.git import GitRunner
from supervisor.storage.redact import Redactor

_HEAD_TIMEOUT = 10.0


def local_checkout(path: Path) -> tuple[str, str | None]:
    """(folder, HEAD sha if it is a git work tree else None); StorageError if it is not a folder.

    The sha is informative only: the folder may have uncommitted changes, and it is not frozen.
    """
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise StorageError(f"storage path {folder} is not a directory")
    commit = None
    if (folder / ".git").exists():
        git = GitRunner(Redactor(), local_timeout=_HEAD_TIMEOUT)
        try:
            commit = (
                git.run(
                    ["-C", str(folder), "rev-parse", "--verify", "-q", "HEAD"], what="reading HEAD"
                ).strip()
                or None
            )
        except StorageError:
            commit = None
    return str(folder), commit
