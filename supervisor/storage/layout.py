"""One storage's folder under `work_dir`, its per-commit snapshots, and who holds them.

    <work_dir>/<key>/
      repo/              bare repository the fetches go into (never a run's cwd)
      snapshots/<sha>/   one complete export per commit; renamed into place when whole, then
                         never changed: a run's cwd
      holds/<name>       one small file per user of a snapshot ("run-<id>", "puller-…"):
                         `<sha> <pid> <process start time>`
      tmp/, trash/       exports being built; snapshots being deleted
      current            sha of the newest good snapshot (read again after a restart)

Holds live on disk, not only in the actor, so a restarted puller (same process) or a second
supervisor sharing the folder never deletes a snapshot a live run uses. A hold whose process is
gone (a `kill -9`ed supervisor) is stale and ignored. `gc.lock` (flock) makes "take a hold" and
"collect unheld snapshots" atomic between processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import psutil


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None


_identity: dict[int, float] = {}


def _me() -> tuple[int, float]:
    """(pid, start time) of this process, computed once per pid (a forked child is another)."""
    pid = os.getpid()
    if pid not in _identity:
        _identity[pid] = _start_time(pid) or 0.0
    return pid, _identity[pid]


def _alive(pid: int, started: float) -> bool:
    actual = _start_time(pid)
    return actual is not None and abs(actual - started) < 0.5


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.repo = root / "repo"
        self.snapshots = root / "snapshots"
        self.holds = root / "holds"
        self.tmp = root / "tmp"
        self.trash = root / "trash"

    def ensure(self) -> None:
        for folder in (self.snapshots, self.holds, self.tmp, self.trash):
            folder.mkdir(parents=True, exist_ok=True)

    # Snapshots ------------------------------------------------------------------------------------

    def snapshot(self, sha: str) -> Path:
        return self.snapshots / sha

    def has_snapshot(self, sha: str) -> bool:
        return (self.snapshots / sha).is_dir()

    def find_snapshot(self, prefix: str) -> str | None:
        """The one snapshot whose sha starts with `prefix` (a short pinned sha), if exactly one."""
        try:
            found = [p.name for p in self.snapshots.iterdir() if p.name.startswith(prefix)]
        except FileNotFoundError:
            return None
        return found[0] if len(found) == 1 else None

    def count(self) -> int:
        return sum(1 for _ in _entries(self.snapshots))

    def new_tmp(self) -> Path:
        path = self.tmp / f"{_me()[0]}-{uuid.uuid4().hex[:8]}"
        path.mkdir(parents=True)
        return path

    def install(self, built: Path, sha: str) -> Path:
        """Rename a complete export into place (atomic); if another made it first, keep theirs."""
        target = self.snapshot(sha)
        try:
            os.rename(built, target)
        except OSError:
            if not target.is_dir():
                raise
            self.discard(built)
        return target

    def discard(self, path: Path) -> None:
        """Move a folder to the trash (atomic, fast); `empty_trash` deletes it later."""
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, self.trash / f"{path.name}-{uuid.uuid4().hex[:8]}")

    def empty_trash(self) -> None:
        """Delete the trash and leftovers of dead processes' exports (slow: run off the actor)."""
        for folder in (self.trash,):
            for entry in list(_entries(folder)):
                shutil.rmtree(entry, ignore_errors=True)
        for entry in list(_entries(self.tmp)):
            pid = entry.name.split("-", 1)[0]
            if pid.isdigit() and not psutil.pid_exists(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)

    def read_current(self) -> str | None:
        try:
            sha = (self.root / "current").read_text().strip()
        except OSError:
            return None
        return sha if sha and self.has_snapshot(sha) else None

    def write_current(self, sha: str) -> None:
        _write_atomic(self.root / "current", sha + "\n")

    # Holds ----------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _gc_lock(self) -> Iterator[None]:
        with open(self.root / "gc.lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def hold(self, name: str, sha: str) -> bool:
        """Record that `name` uses snapshot `sha`; False if that snapshot is gone."""
        with self._gc_lock():
            if not self.has_snapshot(sha):
                return False
            pid, started = _me()
            _write_atomic(self.holds / name, f"{sha} {pid} {started}\n")
            return True

    def release(self, name: str) -> bool:
        try:
            (self.holds / name).unlink()
        except FileNotFoundError:
            return False
        return True

    def live_holds(self) -> dict[str, str]:
        """name → sha of every hold whose process lives; stale ones are deleted."""
        holds: dict[str, str] = {}
        for entry in _entries(self.holds):
            if entry.name.startswith("."):
                continue
            try:
                sha, pid, started = entry.read_text().split()
                alive = _alive(int(pid), float(started))
            except (OSError, ValueError):
                alive, sha = False, ""
            if alive:
                holds[entry.name] = sha
            else:
                with contextlib.suppress(FileNotFoundError):
                    entry.unlink()
        return holds

    def collect(self, keep: set[str]) -> list[str]:
        """Move every snapshot neither held nor in `keep` to the trash; return their shas."""
        removed = []
        with self._gc_lock():
            held = set(self.live_holds().values()) | keep
            for entry in _entries(self.snapshots):
                if entry.name not in held:
                    self.discard(entry)
                    removed.append(entry.name)
        return removed


def _entries(folder: Path) -> Iterator[Path]:
    try:
        yield from folder.iterdir()
    except FileNotFoundError:
        return


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        tmp.write_text(text)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
