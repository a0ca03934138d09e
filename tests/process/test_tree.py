"""tree(): the main process, its descendants and daemons adopted as a subreaper."""

from __future__ import annotations

import os

from tests.process.helpers import pids_in, python
from tests.waiting import wait_until


def test_the_tree_shows_every_process_with_its_figures():
    started = python("grandchild.py")
    started.wait_line("grandchild ")
    [grandchild] = pids_in(started.lines, "grandchild ")
    infos = started.run.tree()
    by_pid = {info.pid: info for info in infos}
    assert infos[0].pid == started.run.pid and len(infos) == 3
    assert grandchild in by_pid and by_pid[grandchild].command == "sleep 3600"
    assert by_pid[started.run.pid].ppid == os.getpid()
    assert all(info.rss > 0 and info.create_time > 0 and info.cpu_percent >= 0 for info in infos)
    assert started.run.tree()  # a second look (CPU against the first)
    started.run.terminate(grace=5)
    started.result()
    assert started.run.tree() == []


def test_an_adopted_daemon_is_part_of_the_tree(as_subreaper):
    started = python("daemon.py")
    started.wait_line("ready")
    [daemon] = pids_in(started.lines, "daemon ")

    # the adoption index is shared by all runs and refreshed at most every quarter second
    def with_daemon() -> list[int] | None:
        pids = [info.pid for info in started.run.tree()]
        return pids if daemon in pids else None

    pids = wait_until(with_daemon, timeout=10, message="the daemon in the tree")
    assert pids[0] == started.run.pid
    started.run.terminate(grace=5)
    assert started.result().leftovers == 0
