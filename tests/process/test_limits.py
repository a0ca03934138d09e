"""Process-wide switches: the open files limit and the subreaper flag."""

from __future__ import annotations

import resource

from supervisor.process import (
    disable_subreaper,
    enable_subreaper,
    is_subreaper,
    raise_open_files_limit,
)


def test_the_open_files_limit_is_raised_to_the_hard_limit():
    soft = raise_open_files_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE)[0] == soft
    assert raise_open_files_limit() == soft  # idempotent


def test_the_subreaper_flag_can_be_switched_on_and_off():
    before = is_subreaper()  # other tests in this process may have switched it on
    try:
        assert enable_subreaper() and is_subreaper()
        assert disable_subreaper() and not is_subreaper()
    finally:
        if before:
            enable_subreaper()
