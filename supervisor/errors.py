"""One error hierarchy for the whole product; it says what a caller may retry.

    SupervisorError
     ├── ConfigError            bad settings file or value (CLI exit 2); names file, field, value
     ├── UsageError             bad command-line input (CLI exit 2)
     ├── SupervisorAlreadyRunning  a live supervisor of this name holds the lease (CLI exit 1)
     ├── ControlPlaneError      anything the control plane answered or failed with
     │    ├── ControlPlaneUnavailable   retryable: locked/unreadable database, timeout, refused, 5xx
     │    ├── RunNotFound               no run with that id (CLI exit 1)
     │    ├── DeploymentNotFound        no deployment with that name (CLI exit 1)
     │    └── DatabaseError             not a database of ours, or a newer schema (CLI exit 1)
     ├── StorageError           a code pull failed; fails the run, never the supervisor
     └── OpsError               the ops API could not be reached or refused the request

Only ControlPlaneUnavailable (and StorageError, with backoff) are retried.
"""

from __future__ import annotations


class SupervisorError(Exception):
    """Base of every error this package raises on purpose."""


class ConfigError(SupervisorError):
    """The settings file or an override is invalid."""


class UsageError(SupervisorError):
    """A command-line argument is invalid."""


class SupervisorAlreadyRunning(SupervisorError):
    """Another live process is the supervisor of this name on this control plane."""


class ControlPlaneError(SupervisorError):
    """The control plane answered with an error or could not be used."""


class ControlPlaneUnavailable(ControlPlaneError):
    """A passing fault (locked database, timeout, 5xx): retry with backoff."""


class RunNotFound(ControlPlaneError):
    """No run has the given id."""


class DeploymentNotFound(ControlPlaneError):
    """No deployment has the given name."""


class DatabaseError(ControlPlaneError):
    """The database file is not ours, is corrupt, or has a newer schema."""


class StorageError(SupervisorError):
    """Code could not be pulled or checked out."""


class OpsError(SupervisorError):
    """The ops API of a running supervisor could not be used."""
