"""Environment variable names shared by the supervisor and the run's child (import-free on purpose:
the entrypoint child imports this before the user's code)."""

COOKIE_VAR = "SUPERVISOR_RUN_ID"
"""Carries the run id; every descendant inherits it, so it finds the tree."""

PARAMETERS_VAR = "SUPERVISOR_PARAMETERS"
"""Holds an entrypoint run's parameters as a JSON object."""

FAILURE_VAR = "SUPERVISOR_FAILURE_FILE"
"""Where an entrypoint run's child writes the exception its user code raised (type: message),
so the run ends FAILED with it rather than CRASHED with a bare exit code."""
