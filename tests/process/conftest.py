"""Fixtures of the process-layer tests."""

from __future__ import annotations

import pytest

from supervisor.process import disable_subreaper, enable_subreaper, is_subreaper


def _restore(before: bool) -> None:
    if not before:
        disable_subreaper()


@pytest.fixture(params=[False, True], ids=["plain", "subreaper"])
def subreaper(request: pytest.FixtureRequest):
    """Run the test as it is, then with pytest as a child subreaper (restored after)."""
    before = is_subreaper()
    if request.param:
        assert enable_subreaper()
    yield request.param
    _restore(before)


@pytest.fixture
def as_subreaper():
    before = is_subreaper()
    assert enable_subreaper()
    yield
    _restore(before)
