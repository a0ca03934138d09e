"""The only waitpid calls of this layer: each reaps one process we identified as a run's own.

Nothing here waits on "any child": a `waitpid(-1)` would steal the exit status of a git or
multiprocessing child started elsewhere in the process (subprocess then reports 0).
"""

from __future__ import annotations

import os
from collections.abc import Collection

from supervisor.process import pidfds, procfs


def reap_session_zombies(
    sids: Collection[int], children: Collection[int], skip: Collection[int] = ()
) -> int:
    """Reap our zombie children whose session is one of a run's.

    A run's descendants that died after being re-parented to us (subreaper) and were never seen
    alive end here. A session id cannot be reused while a member (even a zombie) holds it, so a
    zombie in one of the run's sessions is the run's, not a child someone else will wait for.
    `children` are this process's children (one /proc walk shared by a batch of ends).
    """
    own = os.getsid(0)
    wanted = set(sids) - {own}
    reaped = 0
    if not wanted:
        return reaped
    for pid in children:
        if pid in skip:
            continue
        stat = procfs.read_stat(pid)
        if stat is None or stat.state != "Z" or stat.sid not in wanted:
            continue
        proc = pidfds.open_proc(pid, starttime=stat.starttime)
        if proc is not None:
            reaped += pidfds.reap(proc)
            proc.close()
    return reaped
