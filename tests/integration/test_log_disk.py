"""A full log disk (a real 64 KiB tmpfs): runs still run and end as their process did, and the
cut is said everywhere — one warning per run, the state message, `logs`, a metric."""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from supervisor.controlplane.local import LocalControlPlane
from supervisor.models import StateType
from tests.integration.system import python, settings_for, started, wait_terminal

FLOOD = "import sys\nfor i in range(4000): print(f'line {i:05d} ' + 'x' * 40)\nprint('done')"


@contextlib.contextmanager
def full_disk(where: Path) -> Iterator[Path]:
    """A 64 KiB tmpfs at `where`, unmounted afterwards; skips when mounting is not allowed."""
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_full_log_disk_truncates_the_log_and_says_so_but_never_fails_the_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with full_disk(tmp_path / "logs") as logs:
        settings = settings_for(
            tmp_path, [{"name": "flood", "command": python(FLOOD)}], log_dir=str(logs)
        )
        plane = LocalControlPlane(settings.supervisor.database)
        plane.register_deployments(settings.deployments)
        first, second = plane.create_run("flood"), plane.create_run("flood")
        caplog.set_level(logging.WARNING)
        sup = started(settings)
        try:
            done = [wait_terminal(plane, run, timeout=60) for run in (first, second)]
            metrics = sup.metrics.render().decode()
        finally:
            sup.stop()
        sizes = [(logs / f"{run.id}.log").stat().st_size for run in done]
        # The runs ended as their processes did: COMPLETED, not blocked or failed by the log
        assert [run.state.type for run in done] == [StateType.COMPLETED] * 2
        for run, size in zip(done, sizes, strict=True):
            assert f"output truncated at {size} bytes" in run.state.message
            assert str(logs / f"{run.id}.log") in run.state.message
        assert "supervisor_run_logs_truncated_total 2.0" in metrics
        warnings = [r.getMessage() for r in caplog.records if "output truncated" in r.getMessage()]
        assert len(warnings) == 2, warnings  # one line per run, no traceback
        assert not any(r.exc_info for r in caplog.records)
        # `logs` prints what was kept, then says it was cut, and exits 1
        config = tmp_path / "supervisor.toml"
        config.write_text(
            "[supervisor]\n"
            f'name = "it"\ndatabase = "{settings.supervisor.database}"\nlog_dir = "{logs}"\n'
        )
        shown = subprocess.run(
            [sys.executable, "-m", "supervisor", "--config", str(config), "logs", str(first.id)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 1
        assert len(shown.stdout.encode()) == sizes[0]
        assert shown.stderr.startswith(f"logs: the output of run {uuid.UUID(str(first.id))} was ")
        assert f"truncated at {sizes[0]} bytes" in shown.stderr
