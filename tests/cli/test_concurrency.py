"""Several CLI processes on one SQLite file at once: writers never see "database is locked"."""

from __future__ import annotations

import json
import uuid

from tests.cli.conftest import Cli


def test_two_writers_and_a_reader_at_once_on_a_new_database(cli: Cli):
    # Given no database yet, so the processes also race to create and migrate it
    assert not cli.database.exists()
    # When two processes create runs while a third lists them, all started together
    procs = [
        cli.popen("run", "adhoc", "--param", "writer=1"),
        cli.popen("run", "adhoc", "--param", "writer=2"),
        cli.popen("runs", "--json"),
    ]
    outputs = [proc.communicate(timeout=60) for proc in procs]
    # Then every one succeeds, quietly
    for proc, (_, err) in zip(procs, outputs, strict=True):
        assert (proc.returncode, err) == (0, ""), err
    created = {uuid.UUID(out.strip()) for out, _ in outputs[:2]}
    seen = {uuid.UUID(run["id"]) for run in json.loads(outputs[2][0])}
    assert len(created) == 2 and seen <= created
    # And both runs are there afterwards
    listed = cli("runs", "--json")
    assert {uuid.UUID(run["id"]) for run in json.loads(listed.stdout)} == created
