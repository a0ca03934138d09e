"""Where a storage's code comes from, and the credentials to get it — read at pull time.

The token is read from `os.environ[token_env]` here and only here: settings objects get printed,
so they carry the variable's name, never its value. It reaches git as an `http.extraHeader`
(`Authorization: Basic base64(user:token)`) in `GIT_CONFIG_*` variables: not in argv, not in
`.git/config`. A password in an https URL (`https://user:pass@host/…`) is moved the same way, so
the URL git sees (and stores nowhere, since fetches name the URL directly) has no secret in it.
"""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit, urlunsplit

from supervisor.errors import StorageError
from supervisor.settings import DeploymentSettings, StorageSettings
from supervisor.storage.redact import Redactor, redact_urls

DEFAULT_TOKEN_USER = "x-access-token"
"""The user name sent with a bare token (GitHub's convention; GitLab and Gitea accept any)."""


def storage_key(storage: StorageSettings) -> str:
    """Equal for deployments that may share one puller: same repository and branch, or the same
    pinned commit, or the same local path. Safe as a folder and actor name; never holds a secret
    (a hash of the source, not the source)."""
    if storage.path is not None:
        source = f"path\0{os.path.abspath(storage.path)}"
    else:
        ref = f"commit\0{storage.commit}" if storage.commit else f"branch\0{storage.branch}"
        source = f"git\0{storage.url}\0{ref}\0{storage.token_env or ''}"
    return "storage-" + hashlib.sha256(source.encode()).hexdigest()[:12]


def shared_storages(deployments: Iterable[DeploymentSettings]) -> dict[str, StorageSettings]:
    """One storage (one puller) per key; deployments sharing it get the shortest pull interval."""
    storages: dict[str, StorageSettings] = {}
    for deployment in deployments:
        if deployment.storage is None:
            continue
        key = storage_key(deployment.storage)
        known = storages.get(key)
        if known is None or deployment.storage.pull_interval < known.pull_interval:
            storages[key] = deployment.storage
    return storages


@dataclass(frozen=True)
class Remote:
    """A remote ready for git: the URL to pass, `GIT_CONFIG_*` pairs, and a redactor that masks
    every secret involved."""

    url: str
    config: tuple[tuple[str, str], ...] = ()
    redact: Redactor = field(default_factory=Redactor)
    token_env: str | None = None

    @property
    def display(self) -> str:
        return self.redact(self.url)


def resolve_remote(storage: StorageSettings, environ: Mapping[str, str] | None = None) -> Remote:
    """Build the Remote for a git storage; StorageError if the token variable is unset."""
    if storage.url is None:
        raise StorageError("storage has no url")
    env = os.environ if environ is None else environ
    token: str | None = None
    if storage.token_env:
        token = env.get(storage.token_env) or None
        if token is None:
            raise StorageError(
                f"token_env {storage.token_env!r} is not set in the supervisor's environment"
            )
    parts = urlsplit(storage.url)
    if parts.scheme not in ("http", "https"):
        # ssh and file URLs: a token has no place to go; the user part of ssh://git@… stays.
        return Remote(storage.url, (), Redactor([token] if token else []), storage.token_env)
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password else None
    netloc = parts.hostname or ""
    if parts.port:
        netloc += f":{parts.port}"
    bare_url = urlunsplit(parts._replace(netloc=netloc))
    secret = token or password
    secrets = [s for s in (token, password) if s]
    if secret is None:
        return Remote(bare_url, (), Redactor(), storage.token_env)
    pair = secret if token and ":" in token else f"{user or DEFAULT_TOKEN_USER}:{secret}"
    encoded = base64.b64encode(pair.encode()).decode()
    header = f"Authorization: Basic {encoded}"
    redactor = Redactor([*secrets, pair, encoded])
    return Remote(bare_url, (("http.extraHeader", header),), redactor, storage.token_env)


def describe(storage: StorageSettings) -> str:
    """What the board and logs show: the source (no secrets) and the ref followed."""
    if storage.path is not None:
        return str(storage.path)
    ref = f"commit {storage.commit}" if storage.commit else f"branch {storage.branch}"
    return f"{redact_urls(storage.url or '')} ({ref})"
