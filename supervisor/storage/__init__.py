"""Code storage: pull a deployment's code from git into immutable per-commit snapshots, or use a
local directory as is.

    storage_key(storage)    which deployments share one puller (and its folder under work_dir)
    shared_storages(ds)     the storages of some deployments, one per key
    GitPuller               one pull: fetch, export into a snapshot, rename into place
    Layout                  the storage's folder: snapshots, holds (who uses which), cleanup
    local_checkout(path)    a local directory and its HEAD sha
    Redactor, redact_urls   keep tokens and URL passwords out of every message

Every failure is a `supervisor.errors.StorageError` whose text is safe to log and to show.
"""

from supervisor.errors import StorageError
from supervisor.storage.layout import Layout
from supervisor.storage.local import local_checkout
from supervisor.storage.pull import GitPuller, Pulled
from supervisor.storage.redact import Redactor, redact_urls
from supervisor.storage.remote import describe, resolve_remote, shared_storages, storage_key

__all__ = [
    "GitPuller",
    "Layout",
    "Pulled",
    "Redactor",
    "StorageError",
    "describe",
    "local_checkout",
    "redact_urls",
    "resolve_remote",
    "shared_storages",
    "storage_key",
]
