"""One pull, start to finish, in the puller's worker thread: fetch the commit, export it into a
snapshot folder, rename that into place. Blocking is fine here, never in the actor's handlers.

A branch is fetched shallow (`--depth 1`) into a bare repository kept between pulls. A pinned
full sha is fetched by itself (servers allow that for reachable commits: GitHub, GitLab,
`git daemon`/`file://` with protocol v2); if the server refuses, or the pin is a short sha, every
branch is fetched in full and the sha resolved locally (slower; an ambiguous or unknown short sha
is an error). After a failed fetch the next pull starts from a fresh repository, which is how a
corrupt repository heals.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from supervisor.errors import StorageError
from supervisor.settings import StorageSettings
from supervisor.storage.git import GitRunner, os_reason
from supervisor.storage.layout import Layout
from supervisor.storage.remote import Remote, resolve_remote

logger = logging.getLogger("supervisor.storage")

SHA_PREFIX = re.compile(r"^[0-9a-f]{4,64}$")
FULL_SHA = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
_REMOTE_SIDE = re.compile(
    r"timed out|authentication failed|asks for credentials|Could not read from remote"
    r"|unable to access|Could not resolve|no such (branch|commit)|does not appear to be a git"
    r"|Connection|disk full|cancelled"
)
"""Failures that say nothing about the local repository: no need to check it."""
_REFUSED = ("couldn't find remote ref", "not our ref", "unadvertised object", "no such remote ref")


@dataclass(frozen=True)
class Pulled:
    sha: str
    path: Path
    fetched: bool
    """False: the snapshot was already there (a pinned commit, or nothing new)."""


class GitPuller:
    """Pulls one git storage into its Layout. `cancel()` may be called from any thread."""

    def __init__(
        self, storage: StorageSettings, layout: Layout, *, network_timeout: float | None = None
    ) -> None:
        self.storage = storage
        self.layout = layout
        self._network_timeout = network_timeout
        self._lock = threading.Lock()
        self._runner: GitRunner | None = None
        self._cancelled = False
        self._suspect = False

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            runner = self._runner
        if runner is not None:
            runner.cancel()

    def try_pull(self) -> tuple[Pulled | None, str | None]:
        """`pull()` as a value: (pulled, None) or (None, why) — never raises."""
        try:
            return self.pull(), None
        except StorageError as exc:
            return None, str(exc)
        except Exception as exc:  # a bug: still an answer, so no run is left waiting
            logger.exception("pull of %s failed unexpectedly", self.layout.root)
            return None, f"internal error: {type(exc).__name__}"

    def pull(self) -> Pulled:
        """Fetch and snapshot the configured branch or commit; StorageError says why not."""
        remote = resolve_remote(self.storage)
        runner = GitRunner(
            remote.redact,
            config=remote.config,
            drop_env=[remote.token_env] if remote.token_env else [],
            **({"network_timeout": self._network_timeout} if self._network_timeout else {}),
        )
        with self._lock:
            if self._cancelled:
                raise StorageError("cancelled (the puller is stopping)")
            self._runner = runner
        try:
            self.layout.ensure()
            self.layout.empty_trash()  # what earlier pulls discarded, or a dead process left
            with self._git_lock():
                return self._pull(runner, remote)
        except OSError as exc:
            raise StorageError(remote.redact(os_reason(exc))) from None
        finally:
            with self._lock:
                self._runner = None

    def _pull(self, git: GitRunner, remote: Remote) -> Pulled:
        pin = self.storage.commit
        if pin and not SHA_PREFIX.match(pin):
            raise StorageError(f"commit {pin!r} is not a hex sha (4 to 64 characters, lower case)")
        if pin:
            known = pin if FULL_SHA.match(pin) else self.layout.find_snapshot(pin)
            if known and self.layout.has_snapshot(known):
                return Pulled(known, self.layout.snapshot(known), fetched=False)
        fresh = self._suspect or not (self.layout.repo / "HEAD").is_file()
        repo = self._repo(git)
        try:
            sha = self._fetch(git, remote, repo, pin)
        except StorageError as exc:
            self._suspect = True  # the next pull starts from a fresh repository, whatever the cause
            if fresh or _REMOTE_SIDE.search(str(exc)) or self._healthy(git, repo):
                raise
            repo = self._repo(git)  # a corrupt repository: start again from a fresh one, now
            sha = self._fetch(git, remote, repo, pin)
        if self.layout.has_snapshot(sha):
            return Pulled(sha, self.layout.snapshot(sha), fetched=True)
        try:
            return Pulled(sha, self._export(git, repo, sha), fetched=True)
        except StorageError:
            self._suspect = True  # unreadable objects, say: fetch afresh next time
            raise

    def _fetch(self, git: GitRunner, remote: Remote, repo: str, pin: str | None) -> str:
        if pin:
            return self._fetch_pin(git, remote, repo, pin)
        return self._fetch_branch(git, remote, repo)

    @staticmethod
    def _healthy(git: GitRunner, repo: str) -> bool:
        """Whether the local repository is intact (checked only after a failed fetch)."""
        try:
            git.run(
                ["--git-dir", repo, "fsck", "--connectivity-only", "--no-dangling"],
                what="checking the local repository",
            )
        except StorageError:
            return False
        return True

    def _repo(self, git: GitRunner) -> str:
        repo = self.layout.repo
        if self._suspect or not (repo / "HEAD").is_file():
            self.layout.discard(repo)
            git.run(["init", "--bare", "-q", str(repo)], what="creating the local repository")
            self._suspect = False
        return str(repo)

    def _fetch_branch(self, git: GitRunner, remote: Remote, repo: str) -> str:
        branch = self.storage.branch
        what = f"fetching branch {branch!r} from {remote.display}"
        try:
            _fetch(git, repo, remote, f"+refs/heads/{branch}:refs/supervisor/head", what, SHALLOW)
        except StorageError as exc:
            if "couldn't find remote ref" in str(exc):
                raise StorageError(f"{what}: no such branch on the remote") from None
            raise
        return git.run(
            ["--git-dir", repo, "rev-parse", "--verify", "refs/supervisor/head^{commit}"],
            what="reading the fetched commit",
        ).strip()

    def _fetch_pin(self, git: GitRunner, remote: Remote, repo: str, pin: str) -> str:
        what = f"fetching commit {pin} from {remote.display}"
        if FULL_SHA.match(pin):
            try:
                _fetch(git, repo, remote, pin, what, SHALLOW)
                return self._resolve(git, repo, pin, what)
            except StorageError as exc:
                if not any(marker in str(exc) for marker in _REFUSED):
                    raise
        # A short sha, or a server that will not send a commit by sha: fetch every branch whole.
        shallow = git.run(
            ["--git-dir", repo, "rev-parse", "--is-shallow-repository"], what="inspecting"
        ).strip()
        whole = ("--unshallow",) if shallow == "true" else ()
        _fetch(git, repo, remote, "+refs/heads/*:refs/supervisor/all/*", what, whole)
        return self._resolve(git, repo, pin, what)

    @staticmethod
    def _resolve(git: GitRunner, repo: str, pin: str, what: str) -> str:
        try:
            return git.run(
                ["--git-dir", repo, "rev-parse", "--verify", "--quiet", f"{pin}^{{commit}}"],
                what=what,
            ).strip()
        except StorageError:
            reason = "no such commit on the remote (or the sha is ambiguous)"
            raise StorageError(f"{what}: {reason}") from None

    def _export(self, git: GitRunner, repo: str, sha: str) -> Path:
        """Write the commit's tree into a temp folder, then rename it into place whole."""
        built = self.layout.new_tmp()
        index = built.with_name(built.name + ".index")
        try:
            env = {"GIT_INDEX_FILE": str(index)}
            what = f"checking out commit {sha[:12]}"
            git.run(["--git-dir", repo, "read-tree", sha], what=what, extra_env=env)
            git.run(
                ["--git-dir", repo, "--work-tree", str(built), "checkout-index", "-a", "-f"],
                what=what,
                extra_env=env,
            )
            return self.layout.install(built, sha)
        except BaseException:
            self.layout.discard(built)
            raise
        finally:
            with contextlib.suppress(FileNotFoundError):
                index.unlink()

    @contextlib.contextmanager
    def _git_lock(self) -> Iterator[None]:
        """One fetch at a time per storage folder, across processes (bounded, cancellable)."""
        path = self.layout.root / "git.lock"
        deadline = time.monotonic() + 2 * (self._network_timeout or 120.0) + 60
        with open(path, "a") as handle:
            while True:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if self._cancelled:
                        raise StorageError("cancelled (the puller is stopping)") from None
                    if time.monotonic() > deadline:
                        raise StorageError(f"another process keeps {path} locked") from None
                    time.sleep(0.05)  # worker thread, not a handler: waiting here is fine
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


SHALLOW = ("--depth", "1")


def _fetch(
    git: GitRunner, repo: str, remote: Remote, refspec: str, what: str, options: tuple[str, ...]
) -> None:
    """`git fetch` of one refspec from the remote into the bare repository (`--` before the URL,
    so a URL can never act as an option)."""
    git.run(
        ["--git-dir", repo, "fetch", "-q", "--no-tags", *options, "--", remote.url, refspec],
        what=what,
        network=True,
    )
