"""GitPuller and Layout against real bare repositories (file:// URLs)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from supervisor.errors import StorageError
from supervisor.settings import StorageSettings
from supervisor.storage import GitPuller, Layout
from tests.storage.repos import RemoteRepo, git


def puller(remote: RemoteRepo, work: Path, **storage: object) -> GitPuller:
    settings = StorageSettings(url=remote.url, **storage)  # type: ignore[arg-type]
    return GitPuller(settings, Layout(work))


def test_a_pull_makes_a_snapshot_with_the_commits_files_and_no_git_folder(
    remote: RemoteRepo, tmp_path: Path
) -> None:
    sha = git("-C", remote.work, "rev-parse", "HEAD")
    pulled = puller(remote, tmp_path / "w").pull()
    assert pulled.sha == sha and pulled.fetched
    assert pulled.path == tmp_path / "w" / "snapshots" / sha
    assert (pulled.path / "flow.py").read_text() == "VERSION = 1\n"
    assert (pulled.path / "pkg" / "util.py").is_file()
    assert not (pulled.path / ".git").exists()
    assert (
        git("--git-dir", tmp_path / "w" / "repo", "rev-parse", "--is-shallow-repository") == "true"
    )


def test_a_new_commit_makes_a_new_snapshot_and_leaves_the_old_one_alone(
    remote: RemoteRepo, tmp_path: Path
) -> None:
    p = puller(remote, tmp_path / "w")
    first = p.pull()
    second_sha = remote.commit({"flow.py": "VERSION = 2\n"})
    second = p.pull()
    assert second.sha == second_sha != first.sha
    assert (first.path / "flow.py").read_text() == "VERSION = 1\n"
    assert (second.path / "flow.py").read_text() == "VERSION = 2\n"
    again = p.pull()
    assert again.sha == second_sha and again.path == second.path


def test_executable_bits_and_symlinks_survive_the_export(
    remote: RemoteRepo, tmp_path: Path
) -> None:
    (remote.work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    os.chmod(remote.work / "run.sh", 0o755)
    os.symlink("flow.py", remote.work / "alias.py")
    remote.commit({})
    path = puller(remote, tmp_path / "w").pull().path
    assert os.access(path / "run.sh", os.X_OK)
    assert os.readlink(path / "alias.py") == "flow.py"


def test_a_pinned_full_sha_is_fetched_even_when_the_branch_moved_on(
    remote: RemoteRepo, tmp_path: Path
) -> None:
    pin = git("-C", remote.work, "rev-parse", "HEAD")
    remote.commit({"flow.py": "VERSION = 2\n"})
    pulled = puller(remote, tmp_path / "w", commit=pin).pull()
    assert pulled.sha == pin
    assert (pulled.path / "flow.py").read_text() == "VERSION = 1\n"
    # Pinned and present: the next pull does not even reach the remote.
    remote.bare.rename(remote.bare.with_name("gone.git"))
    again = puller(remote, tmp_path / "w", commit=pin).pull()
    assert again.sha == pin and not again.fetched


def test_a_pinned_short_sha_is_resolved_by_a_full_fetch(remote: RemoteRepo, tmp_path: Path) -> None:
    pin = git("-C", remote.work, "rev-parse", "HEAD")
    remote.commit({"flow.py": "VERSION = 2\n"})
    pulled = puller(remote, tmp_path / "w", commit=pin[:10]).pull()
    assert pulled.sha == pin
    assert (pulled.path / "flow.py").read_text() == "VERSION = 1\n"


def test_an_unknown_pinned_commit_says_so(remote: RemoteRepo, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"commit 0{40} .*no such commit"):
        puller(remote, tmp_path / "w", commit="0" * 40).pull()


def test_a_missing_branch_says_so(remote: RemoteRepo, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"branch 'nope' .*no such branch on the remote"):
        puller(remote, tmp_path / "w", branch="nope").pull()


def test_an_unreachable_remote_is_a_clear_error(tmp_path: Path) -> None:
    settings = StorageSettings(url=(tmp_path / "missing.git").as_uri())
    with pytest.raises(StorageError, match="does not appear to be a git repository"):
        GitPuller(settings, Layout(tmp_path / "w")).pull()


def test_a_corrupt_local_repository_is_recloned_within_the_same_pull(
    remote: RemoteRepo, tmp_path: Path
) -> None:
    p = puller(remote, tmp_path / "w")
    p.pull()
    new = remote.commit({"flow.py": "VERSION = 2\n"})
    for pack in (tmp_path / "w" / "repo" / "objects").rglob("*"):
        if pack.is_file():
            pack.write_bytes(b"garbage")
    pulled = p.pull()
    assert pulled.sha == new
    assert (pulled.path / "flow.py").read_text() == "VERSION = 2\n"


def test_a_stuck_git_is_killed_at_the_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A remote helper that never answers stands in for a hung server.
    helper = tmp_path / "bin" / "git-remote-hang"
    helper.parent.mkdir()
    helper.write_text("#!/bin/sh\nexec sleep 60\n")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper.parent}:{os.environ['PATH']}")
    p = GitPuller(
        StorageSettings(url="hang::whatever"), Layout(tmp_path / "w"), network_timeout=0.5
    )
    with pytest.raises(StorageError, match=r"git timed out after 0.5s"):
        p.pull()


def test_holds_keep_snapshots_and_collect_removes_the_rest(
    remote: RemoteRepo, tmp_path: Path
) -> None:
    layout = Layout(tmp_path / "w")
    p = GitPuller(StorageSettings(url=remote.url), layout)
    old = p.pull()
    assert layout.hold("run-1", old.sha)
    middle = remote.commit({"flow.py": "VERSION = 2\n"})
    p.pull()
    newest = remote.commit({"flow.py": "VERSION = 3\n"})
    p.pull()
    assert layout.collect(keep={newest}) == [middle]
    assert layout.has_snapshot(old.sha) and layout.has_snapshot(newest)
    assert layout.release("run-1")
    assert layout.collect(keep={newest}) == [old.sha]
    layout.empty_trash()
    assert sorted(p.name for p in layout.snapshots.iterdir()) == [newest]
    assert list(layout.trash.iterdir()) == []


def test_a_hold_of_a_dead_process_is_stale(remote: RemoteRepo, tmp_path: Path) -> None:
    layout = Layout(tmp_path / "w")
    pulled = GitPuller(StorageSettings(url=remote.url), layout).pull()
    (layout.holds / "run-x").write_text(f"{pulled.sha} 999999999 1.0\n")
    assert layout.live_holds() == {}
    assert layout.collect(keep=set()) == [pulled.sha]


def test_a_pin_that_is_not_a_sha_is_refused(remote: RemoteRepo, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"commit '-v' is not a hex sha"):
        puller(remote, tmp_path / "w", commit="-v").pull()


def test_a_url_that_looks_like_an_option_is_only_ever_a_url(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    settings = StorageSettings(url=f"--upload-pack=touch {marker}")
    with pytest.raises(StorageError, match="fetching branch 'main'"):
        GitPuller(settings, Layout(tmp_path / "w")).pull()
    assert not marker.exists()


def test_a_force_pushed_or_replaced_history_is_followed(remote: RemoteRepo, tmp_path: Path) -> None:
    p = puller(remote, tmp_path / "w")
    p.pull()
    git("-C", remote.work, "checkout", "-q", "--orphan", "rewritten")
    git("-C", remote.work, "rm", "-rqf", ".")
    sha = remote.commit({"other.py": "NEW = True\n"}, "unrelated history")
    pulled = p.pull()
    assert pulled.sha == sha and (pulled.path / "other.py").is_file()
    assert not (pulled.path / "flow.py").exists()


def test_a_changed_url_gets_a_fresh_folder(remote: RemoteRepo, tmp_path: Path) -> None:
    from supervisor.storage import storage_key

    other = RemoteRepo(tmp_path / "other")
    other.commit({"flow.py": "VERSION = 'other'\n"})
    before = StorageSettings(url=remote.url)
    after = StorageSettings(url=other.url)
    assert storage_key(before) != storage_key(after)
    work = tmp_path / "work"
    GitPuller(before, Layout(work / storage_key(before))).pull()
    pulled = GitPuller(after, Layout(work / storage_key(after))).pull()
    assert (pulled.path / "flow.py").read_text() == "VERSION = 'other'\n"
