"""Pull requests over git: ``git push origin HEAD:refs/for/main`` opens one,
``git push origin HEAD:refs/pr/N`` adds commits; fetching ``refs/pr/N`` gets them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from huggingface_hub import HfApi
from huggingface_hub.community import DiscussionCommit

from .conftest import Server
from .gitclient import Git


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Git:
    return Git(tmp_path_factory.mktemp("git-home"))


@pytest.fixture()
def hub(server: Server, repo_name: str) -> Iterator[tuple[HfApi, str, str]]:
    token = server.user("prgit")
    api = HfApi(endpoint=server.url, token=token)
    repo = f"prgit/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"v1\n", path_in_repo="config.txt", repo_id=repo)
    yield api, repo, token


def test_push_opens_and_updates_a_pull_request(
    server: Server, git: Git, hub: tuple[HfApi, str, str], tmp_path: Path
) -> None:
    api, repo, token = hub
    work = tmp_path / "w"
    git.run("clone", f"{server.url}/{repo}", str(work), cwd=tmp_path)
    main = api.model_info(repo).sha
    (work / "config.txt").write_bytes(b"v2\n")
    git.run("commit", "-qam", "Bump the config\n\nBecause v2 is better.", cwd=work)
    first = git.out("rev-parse", "HEAD", cwd=work)
    opened = git.run("push", "--progress", "origin", "HEAD:refs/for/main", cwd=work, token=token)
    assert "opened pull request #1" in opened.stderr, opened.stderr
    assert api.model_info(repo).sha == main  # nothing on main

    pr = api.get_discussion_details(repo, 1)
    assert pr.is_pull_request and pr.status == "open" and pr.title == "Bump the config"
    assert pr.author == "prgit" and pr.target_branch == "refs/heads/main"
    assert pr.events[0].content == "Because v2 is better."  # type: ignore[attr-defined]
    assert [e.oid for e in pr.events if isinstance(e, DiscussionCommit)] == [first]
    assert pr.diff is not None and "+v2\n" in pr.diff

    # Two more commits to refs/pr/1, then an API commit to it, then fetch it back.
    for n in (3, 4):
        (work / "config.txt").write_bytes(f"v{n}\n".encode())
        git.run("commit", "-qam", f"v{n}", cwd=work)
    updated = git.run("push", "--progress", "origin", "HEAD:refs/pr/1", cwd=work, token=token)
    assert "updated pull request #1" in updated.stderr
    api.upload_file(
        path_or_fileobj=b"api\n", path_in_repo="api.txt", repo_id=repo, revision="refs/pr/1"
    )
    commits = [
        e.summary
        for e in api.get_discussion_details(repo, 1).events
        if isinstance(e, DiscussionCommit)
    ]
    assert commits == ["Bump the config", "v3", "v4", "Upload api.txt with huggingface_hub"]
    git.run("fetch", "origin", "refs/pr/1:refs/remotes/origin/pr/1", cwd=work, token=token)
    assert git.out("show", "origin/pr/1:api.txt", cwd=work) == "api"
    listed = git.out("ls-remote", "origin", cwd=work, token=token)
    assert "refs/pr/1" in listed

    api.merge_pull_request(repo, 1)
    git.run("pull", "-q", "--no-rebase", "origin", "main", cwd=work, token=token)
    assert (work / "config.txt").read_bytes() == b"v4\n" and (work / "api.txt").exists()
    # A merged pull request takes no more pushes; a number that is not one is refused.
    git.run("commit", "-q", "--allow-empty", "-m", "late", cwd=work)
    late = git.run("push", "origin", "HEAD:refs/pr/1", cwd=work, token=token, check=False)
    assert late.returncode != 0 and "merged" in late.stderr
    missing = git.run("push", "origin", "HEAD:refs/pr/7", cwd=work, token=token, check=False)
    assert missing.returncode != 0 and "not found" in missing.stderr.lower()
    branch = git.run("push", "origin", "HEAD:refs/for/nope", cwd=work, token=token, check=False)
    assert branch.returncode != 0 and "nope" in branch.stderr


def test_pull_request_push_needs_write(
    server: Server, git: Git, hub: tuple[HfApi, str, str], tmp_path: Path
) -> None:
    _, repo, _ = hub
    outsider = server.user("prgit-outsider")
    work = tmp_path / "o"
    git.run("clone", f"{server.url}/{repo}", str(work), cwd=tmp_path)
    git.run("commit", "-q", "--allow-empty", "-m", "drive-by", cwd=work)
    pushed = git.run("push", "origin", "HEAD:refs/for/main", cwd=work, token=outsider, check=False)
    assert pushed.returncode != 0
    assert list(HfApi(endpoint=server.url).get_repo_discussions(repo)) == []
