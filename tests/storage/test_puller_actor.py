"""StoragePullerActor against real bare repositories, on a fake clock."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from actors.messages import (
    CheckoutFailed,
    CheckoutReady,
    ChildFailed,
    PrepareCheckout,
    ReleaseCheckout,
)
from actors.storage_puller import StoragePullerActor
from supervisor.settings import StorageSettings
from supervisor.storage import storage_key
from tests.storage.repos import RemoteRepo, git
from tests.storage.rig import Rig
from tests.waiting import wait_until


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    rig = Rig(tmp_path)
    yield rig
    rig.stop()


def head(remote: RemoteRepo) -> str:
    return git("-C", remote.work, "rev-parse", "HEAD")


def test_a_run_gets_a_checkout_of_the_pulled_code(rig: Rig, remote: RemoteRepo) -> None:
    name, puller = rig.start(url=remote.url, pull_interval=60)
    reply = rig.prepare(puller)
    assert isinstance(reply, CheckoutReady), reply
    assert reply.commit == head(remote)
    assert (Path(reply.path) / "flow.py").read_text() == "VERSION = 1\n"
    owns = rig.owns(name)
    assert owns["commit"] == head(remote) and owns["last_error"] is None
    assert owns["last_pull"] is not None and owns["next_pull"] is not None
    assert rig.board.get(name)["state"] == "running"


def test_a_new_commit_reaches_the_next_run_after_the_interval_while_a_held_snapshot_stays(
    rig: Rig, remote: RemoteRepo
) -> None:
    name, puller = rig.start(url=remote.url, pull_interval=60)
    long_run = uuid.uuid4()
    old = rig.prepare(puller, long_run)
    assert isinstance(old, CheckoutReady)
    new_sha = remote.commit({"flow.py": "VERSION = 2\n"})

    # Within the interval: no pull, the run gets the commit it already has.
    early = rig.prepare(puller)
    assert isinstance(early, CheckoutReady) and early.commit == old.commit

    rig.scheduler.advance(60 * 1.1 + 1)  # the periodic pull (interval + jitter) fires
    rig.wait_pulled(name, new_sha)
    later = rig.prepare(puller)
    assert isinstance(later, CheckoutReady) and later.commit == new_sha
    assert (Path(later.path) / "flow.py").read_text() == "VERSION = 2\n"
    # The long run's files did not change under it.
    assert (Path(old.path) / "flow.py").read_text() == "VERSION = 1\n"

    rig.release(puller, early.run_id)
    assert Path(old.path).is_dir()  # still held by the long run
    rig.release(puller, long_run)
    assert not Path(old.path).exists()
    assert Path(later.path).is_dir()  # the newest stays


def test_a_run_pulls_first_when_the_last_pull_is_older_than_the_interval(
    rig: Rig, remote: RemoteRepo
) -> None:
    name, puller = rig.start(url=remote.url, pull_interval=60)
    rig.wait_pulled(name, head(remote))
    new_sha = remote.commit({"flow.py": "VERSION = 2\n"})
    rig.clock.advance(61)  # time passes, the timer has not fired yet
    reply = rig.prepare(puller)
    assert isinstance(reply, CheckoutReady) and reply.commit == new_sha


def test_a_pinned_commit_is_honoured_and_never_pulled_again(rig: Rig, remote: RemoteRepo) -> None:
    pin = head(remote)
    remote.commit({"flow.py": "VERSION = 2\n"})
    name, puller = rig.start(url=remote.url, commit=pin, pull_interval=60)
    reply = rig.prepare(puller)
    assert isinstance(reply, CheckoutReady) and reply.commit == pin
    assert (Path(reply.path) / "flow.py").read_text() == "VERSION = 1\n"
    assert rig.owns(name)["next_pull"] is None
    assert rig.scheduler.pending() == []


def test_a_broken_remote_fails_the_run_clearly_and_the_puller_retries_with_backoff(
    rig: Rig, remote: RemoteRepo, tmp_path: Path
) -> None:
    missing = tmp_path / "moved.git"
    name, puller = rig.start(url=missing.as_uri(), pull_interval=60)
    _, healthy = rig.start(url=remote.url, pull_interval=60)
    reply = rig.prepare(puller)
    assert isinstance(reply, CheckoutFailed), reply
    assert reply.message.startswith("code pull failed: fetching branch 'main' from file://")
    assert "does not appear to be a git repository" in reply.message
    assert puller.is_alive() and rig.board.get(name)["state"] == "running"
    assert rig.owns(name)["last_error"] in reply.message
    assert isinstance(rig.prepare(healthy), CheckoutReady)  # other storages carry on

    delays = []
    for _ in range(3):
        failures = rig.owns(name)["failures"]
        delays.append(min(d for d in rig.scheduler.pending() if d < 60))
        rig.scheduler.advance(delays[-1])
        wait_until(lambda f=failures: rig.owns(name)["failures"] > f, 10, message="a retry")
    assert delays == sorted(delays) and delays[-1] > delays[0]

    remote.bare.rename(missing)  # the remote is back
    rig.scheduler.advance(min(rig.scheduler.pending()))
    rig.wait_pulled(name, head(remote))
    assert rig.owns(name)["last_error"] is None and rig.owns(name)["failures"] == 0
    assert isinstance(rig.prepare(puller), CheckoutReady)


def test_when_a_pull_fails_a_run_gets_the_last_good_snapshot_and_the_log_says_so(
    rig: Rig, remote: RemoteRepo, caplog: pytest.LogCaptureFixture
) -> None:
    name, puller = rig.start(url=remote.url, pull_interval=60)
    good = rig.prepare(puller)
    assert isinstance(good, CheckoutReady)
    remote.bare.rename(remote.bare.with_name("away.git"))
    rig.clock.advance(61)
    with caplog.at_level(logging.WARNING, logger="supervisor.storage"):
        reply = rig.prepare(puller)
    assert isinstance(reply, CheckoutReady) and reply.commit == good.commit
    assert "uses the last good commit" in caplog.text and "code pull failed" in caplog.text
    assert rig.owns(name)["failures"] == 1


def test_a_local_directory_is_used_as_is(rig: Rig, tmp_path: Path) -> None:
    plain = tmp_path / "code"
    plain.mkdir()
    _, puller = rig.start(path=plain)
    reply = rig.prepare(puller)
    assert isinstance(reply, CheckoutReady) and (reply.path, reply.commit) == (str(plain), None)
    assert rig.scheduler.pending() == []

    repo = RemoteRepo(tmp_path / "local")
    sha = repo.commit({"x.py": ""})
    _, in_git = rig.start(path=repo.work)
    reply = rig.prepare(in_git)
    assert isinstance(reply, CheckoutReady) and reply.commit == sha

    _, missing = rig.start(path=tmp_path / "nope")
    reply = rig.prepare(missing)
    assert isinstance(reply, CheckoutFailed)
    assert (
        reply.message == f"code not available: storage path {tmp_path / 'nope'} is not a directory"
    )


def test_a_restarted_puller_keeps_the_snapshots_runs_still_hold(
    rig: Rig, remote: RemoteRepo
) -> None:
    name, puller = rig.start(url=remote.url, pull_interval=60)
    long_run = uuid.uuid4()
    old = rig.prepare(puller, long_run)
    assert isinstance(old, CheckoutReady)
    puller.stop(timeout=10)  # as after a crash: the root starts a new one on the same folder

    new_sha = remote.commit({"flow.py": "VERSION = 2\n"})
    name, puller = rig.start(url=remote.url, pull_interval=60)
    rig.wait_pulled(name, new_sha)
    assert (Path(old.path) / "flow.py").read_text() == "VERSION = 1\n"
    rig.release(puller, long_run)  # the new incarnation learns of the hold from disk
    assert not Path(old.path).exists()


def test_stopping_during_a_pull_answers_waiting_runs_and_kills_git(
    rig: Rig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    helper = tmp_path / "bin" / "git-remote-hang"
    helper.parent.mkdir()
    helper.write_text("#!/bin/sh\nexec sleep 60\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    name, puller = rig.start(url="hang::somewhere", pull_interval=60)  # start() does not wait
    wait_until(lambda: rig.owns(name).get("pulling"), 10, message="pulling")
    run_id = uuid.uuid4()
    puller.tell(PrepareCheckout(run_id, rig.inbox))
    puller.ask(object(), timeout=5)
    puller.stop(timeout=10)
    reply = rig.reply()
    assert reply == CheckoutFailed(run_id, "code pull failed: the puller stopped")


def test_a_full_disk_is_named_in_the_failure(
    rig: Rig, remote: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A git that fails as git does when the disk is full (a real ENOSPC needs a tiny filesystem).
    fake = tmp_path / "fakebin" / "git"
    fake.parent.mkdir()
    fake.write_text(
        "#!/bin/sh\n"
        'case "$*" in *fetch*) echo "error: file write error: No space left on device" >&2;'
        ' echo "fatal: unable to write new packfile" >&2; exit 128;; esac\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:{os.environ['PATH']}")
    _, puller = rig.start(url=remote.url)
    reply = rig.prepare(puller)
    assert isinstance(reply, CheckoutFailed)
    assert "code pull failed: " in reply.message and "disk full (ENOSPC)" in reply.message


def gated_fetch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A `git` first on PATH whose fetch waits until the returned file exists: a pull stays in
    progress until the test says."""
    gate = tmp_path / "gate"
    gated = tmp_path / "gatedbin" / "git"
    gated.parent.mkdir()
    gated.write_text(
        "#!/bin/sh\n"
        f'case "$*" in *fetch*) while [ ! -e {gate} ]; do sleep 0.01; done;; esac\n'
        f'exec {shutil.which("git")} "$@"\n'
    )
    gated.chmod(0o755)
    monkeypatch.setenv("PATH", f"{gated.parent}:{os.environ['PATH']}")
    return gate


def test_a_run_released_while_waiting_for_a_pull_gets_no_checkout(
    rig: Rig, remote: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gate = gated_fetch(tmp_path, monkeypatch)
    name, puller = rig.start(url=remote.url)
    wait_until(lambda: rig.owns(name).get("pulling"), 10, message="pulling")
    cancelled = uuid.uuid4()
    puller.tell(PrepareCheckout(cancelled, rig.inbox))  # queued behind the pull…
    puller.tell(ReleaseCheckout(cancelled))  # …and the run ended before it was answered
    puller.ask(object(), timeout=5)
    gate.touch()
    rig.wait_pulled(name, head(remote))
    served = rig.prepare(puller)
    assert isinstance(served, CheckoutReady) and served.run_id != cancelled
    assert not (rig.work_dir / name / "holds" / f"run-{cancelled}").exists()


def test_with_real_timers_a_new_commit_arrives_by_itself(
    remote: RemoteRepo, tmp_path: Path
) -> None:
    rig = Rig(tmp_path, real_time=True)
    try:
        name, puller = rig.start(url=remote.url, pull_interval=0.2)
        first = rig.prepare(puller)
        assert isinstance(first, CheckoutReady)
        new_sha = remote.commit({"flow.py": "VERSION = 2\n"})
        rig.wait_pulled(name, new_sha)  # no request, no restart: the periodic pull found it
        assert (Path(first.path) / "flow.py").read_text() == "VERSION = 1\n"  # still held
    finally:
        rig.stop()


def test_a_puller_that_dies_hands_its_runs_requests_to_its_successor(
    rig: Rig, remote: RemoteRepo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a puller (with a parent) whose first pull is in progress: a run waits for it
    gate = gated_fetch(tmp_path, monkeypatch)
    settings = StorageSettings(url=remote.url)
    name = storage_key(settings)
    puller = StoragePullerActor.start(name, rig.ctx, rig.inbox, settings)
    rig.refs.append(puller)
    wait_until(lambda: rig.owns(name).get("pulling"), 10, message="pulling")
    waiting, queued = uuid.uuid4(), uuid.uuid4()
    puller.tell(PrepareCheckout(waiting, rig.inbox))
    # When a handler dies of a bug while another run's request waits in the inbox
    die = threading.Event()

    def bug(self: StoragePullerActor, run_id: uuid.UUID) -> None:
        die.wait(10)
        raise RuntimeError("a bug")

    monkeypatch.setattr(StoragePullerActor, "_release", bug)
    puller.tell(ReleaseCheckout(uuid.uuid4()))
    puller.tell(PrepareCheckout(queued, rig.inbox))
    die.set()
    # Then its parent gets both requests to hand to the restarted puller, oldest first
    failed = rig.reply()
    gate.touch()
    assert isinstance(failed, ChildFailed), failed
    assert failed.handed_back == (
        PrepareCheckout(waiting, rig.inbox), PrepareCheckout(queued, rig.inbox)
    )
