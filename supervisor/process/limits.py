"""Each run holds three descriptors (output pipe, pidfd, log file), so 500 runs need ~1500: more
than the usual soft limit of 1024. Raising the soft limit to the hard one is process-wide, so it is
opt-in like the subreaper: the CLI calls it; embedding code may."""

from __future__ import annotations

import logging
import resource

log = logging.getLogger(__name__)


def raise_open_files_limit() -> int:
    """Lift this process's soft RLIMIT_NOFILE to its hard limit; returns the soft limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft >= hard:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as error:
        log.warning("cannot raise the open files limit from %d to %d: %s", soft, hard, error)
        return soft
    return hard
