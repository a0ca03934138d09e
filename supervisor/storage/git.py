"""Run the `git` command line: bounded, non-interactive, cancellable, secret-free in what it says.

Each command runs in its own session (no terminal to prompt on; its whole process group —
`git-remote-https`, `ssh`, `upload-pack` — can be killed at once on timeout or cancel). The
environment is the supervisor's minus what would redirect git or mark it as part of a run
(`SUPERVISOR_RUN_ID`), plus credentials passed as `GIT_CONFIG_*` variables, which git reads like
`-c` options but which never appear in argv (`ps`) nor in any config file.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import signal
import subprocess
import threading
from collections.abc import Mapping, Sequence

from supervisor.errors import StorageError
from supervisor.storage.redact import Redactor

logger = logging.getLogger("supervisor.storage")

NETWORK_TIMEOUT = 120.0
"""s a fetch may take; a hung remote must not hold the puller for ever."""
LOCAL_TIMEOUT = 60.0
"""s a local command (init, rev-parse, export) may take."""

_DROP = frozenset(
    {
        "SUPERVISOR_RUN_ID",
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES",
        "GIT_COMMON_DIR",
        "GIT_NAMESPACE",
        "GIT_PREFIX",
        "GIT_CONFIG_PARAMETERS",
        "GIT_CONFIG_COUNT",
        "LANGUAGE",
    }
)

# Always on: no background gc/maintenance (it would detach and outlive the command).
_BASE_CONFIG = (
    ("gc.auto", "0"),
    ("maintenance.auto", "false"),
    ("fetch.writeCommitGraph", "false"),
)


def git_env(
    base: Mapping[str, str],
    config: Sequence[tuple[str, str]] = (),
    drop: Sequence[str] = (),
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """The environment for one git command (see module docstring)."""
    env = {
        k: v
        for k, v in base.items()
        if k not in _DROP
        and k not in drop
        and not k.startswith(("GIT_CONFIG_KEY_", "GIT_CONFIG_VALUE_"))
    }
    pairs = [*_BASE_CONFIG, *config]
    env["GIT_CONFIG_COUNT"] = str(len(pairs))
    for index, (key, value) in enumerate(pairs):
        env[f"GIT_CONFIG_KEY_{index}"] = key
        env[f"GIT_CONFIG_VALUE_{index}"] = value
    env["GIT_TERMINAL_PROMPT"] = "0"
    env["LC_ALL"] = "C"  # messages we can recognise ("No space left on device")
    env.update(extra or {})
    return env


_AUTH_FAILED = re.compile(
    r"could not read (Username|Password)|Authentication failed|terminal prompts disabled"
    r"|returned error: 40[13]|Permission denied \(publickey"
)


def summarize(stderr: str) -> str:
    """The lines of git's stderr that say what went wrong, on one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    important = [ln for ln in lines if ln.startswith(("fatal:", "error:"))] or lines[-2:]
    text = "; ".join(ln.removeprefix("fatal: ").removeprefix("error: ") for ln in important[:3])
    return text or "no message"


def is_disk_full(text: str) -> bool:
    return "No space left on device" in text or "ENOSPC" in text


class GitRunner:
    """Runs git commands for one storage; `cancel()` (any thread) kills the one running and
    makes later ones fail at once."""

    def __init__(
        self,
        redactor: Redactor,
        *,
        config: Sequence[tuple[str, str]] = (),
        drop_env: Sequence[str] = (),
        network_timeout: float = NETWORK_TIMEOUT,
        local_timeout: float = LOCAL_TIMEOUT,
    ) -> None:
        self.redact = redactor
        self.network_timeout = network_timeout
        self.local_timeout = local_timeout
        self._config = tuple(config)
        self._drop = tuple(drop_env)
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None
        self._cancelled = False

    def run(
        self,
        args: Sequence[str],
        *,
        what: str,
        network: bool = False,
        extra_env: Mapping[str, str] | None = None,
    ) -> str:
        """Run `git *args`; return stdout. Raise StorageError("<what>: <reason>"), redacted."""
        timeout = self.network_timeout if network else self.local_timeout
        env = git_env(os.environ, self._config, self._drop, extra_env)
        with self._lock:
            if self._cancelled:
                raise StorageError(f"{what}: cancelled (the puller is stopping)")
            try:
                proc = subprocess.Popen(
                    ["git", *args],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    start_new_session=True,
                    text=True,
                    errors="replace",
                )
            except FileNotFoundError:
                raise StorageError(f"{what}: git is not installed (no 'git' on PATH)") from None
            except OSError as exc:
                reason = os_reason(exc)
                raise StorageError(self.redact(f"{what}: cannot start git: {reason}")) from None
            self._proc = proc
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._kill(proc)
            proc.communicate()
            raise StorageError(self.redact(f"{what}: git timed out after {timeout:g}s")) from None
        finally:
            with self._lock:
                self._proc = None
        if proc.returncode != 0:
            if self._cancelled:
                raise StorageError(f"{what}: cancelled (the puller is stopping)")
            reason = summarize(err)
            if is_disk_full(err):
                reason = f"disk full (ENOSPC): {reason}"
            elif network and _AUTH_FAILED.search(err):
                reason = (
                    "authentication failed: the remote refused the credentials"
                    if any(k == "http.extraHeader" for k, _ in self._config)
                    else "the remote asks for credentials (set token_env)"
                ) + f" ({reason})"
            raise StorageError(self.redact(f"{what}: {reason}"))
        return out

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            proc = self._proc
        if proc is not None:
            self._kill(proc)

    @staticmethod
    def _kill(proc: subprocess.Popen[str]) -> None:
        # The group id stays valid while the leader is unreaped; poll() first so we never
        # signal a group whose leader was already reaped.
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def os_reason(exc: OSError) -> str:
    """An OSError as a short reason; disk full is named as such."""
    if exc.errno == errno.ENOSPC:
        return f"disk full (ENOSPC): {exc.filename or ''}".rstrip(": ")
    return f"{exc.strerror or exc}" + (f": {exc.filename}" if exc.filename else "")
