"""Fixtures of the process-layer tests."""

from __future__ import annotations

import pytest

from supervisor.process import disable_subreaper, enable_subreaper


@pytest.fixture(params=[False, True], ids=["plain", "subreaper"])
def subreaper(request: pytest.FixtureRequest):
    """Run the test plainly, then with pytest as a child subreaper (switched off after)."""
    if request.param:
        assert enable_subreaper()
    yield request.param
    if request.param:
        disable_subreaper()


@pytest.fixture
def as_subreaper():
    assert enable_subreaper()
    yield
    disable_subreaper()
