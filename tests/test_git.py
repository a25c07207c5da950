"""``git`` and ``git lfs`` against ``commons serve``: clone, fetch, pull and push.

Debian's stock clients, over the hub's smart HTTP protocol (version 2 and 0), on
SQLite and PostgreSQL. What a push does is checked through the API and the pages,
as if it had come through the API.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download

from .conftest import Server
from .gitclient import Git


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Git:
    return Git(tmp_path_factory.mktemp("git-home"))


@pytest.fixture()
def hub(server: Server, repo_name: str) -> Iterator[tuple[HfApi, str, str]]:
    """A model with a card and a file, and its owner's write token."""
    token = server.user("gitter")
    api = HfApi(endpoint=server.url, token=token)
    repo = f"gitter/{repo_name}"
    api.create_repo(repo)
    card = b"---\nlicense: mit\n---\n# A model\n"
    api.upload_file(path_or_fileobj=card, path_in_repo="README.md", repo_id=repo)
    api.upload_file(path_or_fileobj=b"{}\n", path_in_repo="conf/config.json", repo_id=repo)
    yield api, repo, token


def test_clone_fetch_and_push_round_trip(
    server: Server, git: Git, hub: tuple[HfApi, str, str], tmp_path: Path
) -> None:
    api, repo, token = hub
    url = f"{server.url}/{repo}"
    head = api.model_info(repo).sha
    for version in ("2", "0"):  # protocol v2, and v0 as old clients speak it
        work = tmp_path / f"v{version}"
        git.run("-c", f"protocol.version={version}", "clone", url, str(work), cwd=tmp_path)
        assert git.out("rev-parse", "HEAD", cwd=work) == head  # the hub's ids are git's
        assert (work / "conf" / "config.json").read_bytes() == b"{}\n"
        git.run("fsck", "--strict", "--no-dangling", cwd=work)
    # A commit through the API, then pull over both protocol versions.
    api.upload_file(path_or_fileobj=b"api\n", path_in_repo="from-api.txt", repo_id=repo)
    for version in ("2", "0"):
        work = tmp_path / f"v{version}"
        git.run("-c", f"protocol.version={version}", "pull", "--ff-only", cwd=work)
        assert (work / "from-api.txt").read_bytes() == b"api\n"
    # A push: a new card and an executable script.
    work = tmp_path / "v2"
    (work / "README.md").write_text("---\nlicense: apache-2.0\n---\n# Pushed zebracorn card\n")
    (work / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (work / "run.sh").chmod(0o755)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-qm", "Push a card\n\nWith a body.", cwd=work)
    git.run("push", "origin", "main", cwd=work, token=token)
    pushed = git.out("rev-parse", "HEAD", cwd=work)
    # The API, the card, the search index and the pages see it.
    info = api.model_info(repo)
    assert info.sha == pushed
    assert info.card_data is not None and info.card_data.get("license") == "apache-2.0"
    commits = api.list_repo_commits(repo)
    assert commits[0].commit_id == pushed and commits[0].title == "Push a card"
    assert {s.rfilename for s in info.siblings or []} >= {"run.sh", "README.md"}
    server.settle(repo)  # the search index follows in a pipeline job
    found = httpx.get(f"{server.url}/api/models", params={"search": "zebracorn"}).json()
    assert repo in [m["id"] for m in found] or repo in [m["modelId"] for m in found]
    page = httpx.get(
        f"{server.url}/{repo}/commit/{pushed}", headers={"Authorization": f"Bearer {token}"}
    )
    assert page.status_code == 200 and "Push a card" in page.text
    path = hf_hub_download(repo, "run.sh", endpoint=server.url, token=token)
    assert Path(path).read_bytes() == b"#!/bin/sh\necho hi\n"
    # The other clone pulls the push (v0), with the executable bit.
    other = tmp_path / "v0"
    git.run("-c", "protocol.version=0", "pull", "--ff-only", cwd=other)
    assert git.out("rev-parse", "HEAD", cwd=other) == pushed
    assert os.access(other / "run.sh", os.X_OK)
    # An API commit on top keeps the executable bit of the pushed file.
    api.upload_file(path_or_fileobj=b"x\n", path_in_repo="later.txt", repo_id=repo)
    git.run("pull", "--ff-only", cwd=other)
    assert git.out("ls-files", "-s", "run.sh", cwd=other).startswith("100755")
    # Diverged: local commits the hub does not know, new ones on the hub. Both
    # protocol versions negotiate past the unknown haves to the common base.
    for version, clone in (("0", other), ("2", work)):
        for i in range(3):
            (clone / f"local{version}-{i}.txt").write_text("local\n")
            git.run("add", "-A", cwd=clone)
            git.run("commit", "-qm", f"local {i}", cwd=clone)
        api.upload_file(
            path_or_fileobj=version.encode(), path_in_repo=f"hub{version}.txt", repo_id=repo
        )
        git.run("-c", f"protocol.version={version}", "pull", "--rebase", cwd=clone)
        assert (clone / f"hub{version}.txt").read_text() == version
        git.run("push", "origin", "main", cwd=clone, token=token)
        git.run("fsck", "--strict", "--no-dangling", cwd=clone)


def test_shallow_clone_deepen_and_branches_and_tags(
    server: Server, git: Git, hub: tuple[HfApi, str, str], tmp_path: Path
) -> None:
    api, repo, token = hub
    url = f"{server.url}/{repo}"
    work = tmp_path / "shallow"
    git.run("clone", "--depth", "1", url, str(work), cwd=tmp_path)
    assert git.out("rev-list", "--count", "HEAD", cwd=work) == "1"
    git.run("fetch", "--deepen", "1", cwd=work)
    assert git.out("rev-list", "--count", "HEAD", cwd=work) == "2"
    git.run("fetch", "--unshallow", cwd=work)
    assert git.out("rev-list", "--count", "HEAD", cwd=work) == "3"
    git.run("fsck", "--strict", "--no-dangling", cwd=work)
    # New branch and tag; a forced push to the branch; deleting both.
    git.run("checkout", "-qb", "topic", cwd=work)
    (work / "t.txt").write_text("topic\n")
    git.run("add", "t.txt", cwd=work)
    git.run("commit", "-qm", "topic", cwd=work)
    git.run("tag", "v1", cwd=work)
    git.run("push", "origin", "topic", "v1", cwd=work, token=token)
    refs = api.list_repo_refs(repo)
    topic = git.out("rev-parse", "HEAD", cwd=work)
    assert {b.name: b.target_commit for b in refs.branches}["topic"] == topic
    assert {t.name: t.target_commit for t in refs.tags}["v1"] == topic
    git.run("commit", "-q", "--amend", "-m", "topic, amended", cwd=work)
    refused = git.run("push", "origin", "topic", cwd=work, token=token, check=False)
    assert refused.returncode != 0  # git itself wants --force
    git.run("push", "--force", "origin", "topic", cwd=work, token=token)
    amended = git.out("rev-parse", "HEAD", cwd=work)
    assert {b.name: b.target_commit for b in api.list_repo_refs(repo).branches}["topic"] == amended
    git.run("push", "origin", ":topic", ":refs/tags/v1", cwd=work, token=token)
    refs = api.list_repo_refs(repo)
    assert [b.name for b in refs.branches] == ["main"] and refs.tags == []


def test_protected_branch_and_refused_pushes(
    server: Server, git: Git, hub: tuple[HfApi, str, str], tmp_path: Path
) -> None:
    api, repo, token = hub
    work = tmp_path / "w"
    git.run("clone", f"{server.url}/{repo}", str(work), cwd=tmp_path)
    before = api.model_info(repo).sha
    # main is protected: no force push, no deletion.
    git.run("commit", "-q", "--amend", "-m", "rewritten", cwd=work)
    forced = git.run("push", "--force", "origin", "main", cwd=work, token=token, check=False)
    assert forced.returncode != 0 and "protected branch" in forced.stderr, forced.stderr
    deleted = git.run("push", "origin", ":main", cwd=work, token=token, check=False)
    assert deleted.returncode != 0 and "protected branch" in deleted.stderr
    git.run("reset", "-q", "--hard", "origin/main", cwd=work)
    # An annotated tag, a large file without LFS, a pull request: refused, whole.
    git.run("tag", "-a", "v2", "-m", "annotated", cwd=work)
    tagged = git.run("push", "origin", "v2", cwd=work, token=token, check=False)
    assert tagged.returncode != 0 and "annotated tags are not supported" in tagged.stderr
    git.run("tag", "-d", "v2", cwd=work)
    (work / "big.dat").write_bytes(b"\0" * (10 * 1000 * 1000))
    git.run("add", "big.dat", cwd=work)
    git.run("commit", "-qm", "big", cwd=work)
    big = git.run("push", "origin", "main", cwd=work, token=token, check=False)
    assert big.returncode != 0 and "git lfs" in big.stderr, big.stderr
    git.run("reset", "-q", "--hard", "origin/main", cwd=work)
    # A pull request instead moves no branch (tests/test_git_pull_requests.py).
    git.run("commit", "-q", "--allow-empty", "-m", "a proposal", cwd=work)
    pr = git.run(
        "push", "--progress", "origin", "HEAD:refs/for/main", cwd=work, token=token, check=False
    )
    assert pr.returncode == 0 and "opened pull request #1" in pr.stderr, pr.stderr
    assert api.model_info(repo).sha == before
    assert [b.name for b in api.list_repo_refs(repo).branches] == ["main"]


def test_git_lfs_push_and_clone(
    server: Server, git: Git, hub: tuple[HfApi, str, str], tmp_path: Path
) -> None:
    api, repo, token = hub
    url = f"{server.url}/{repo}"
    # A file the hub stores as LFS although no pattern covers it: .gitattributes
    # gains a line for it, so that a git lfs checkout gets the real bytes.
    big = os.urandom(10 * 1000 * 1000 + 7)
    api.upload_file(path_or_fileobj=big, path_in_repo="data/big file.dat", repo_id=repo)
    attributes = hf_hub_download(repo, ".gitattributes", endpoint=server.url, token=token)
    assert "/data/big[[:space:]]file.dat filter=lfs" in Path(attributes).read_text()
    work = tmp_path / "w"
    git.run("clone", url, str(work), cwd=tmp_path, token=token)
    assert (work / "data" / "big file.dat").read_bytes() == big
    # git lfs push: the object through the batch API, then the pointer in the pack.
    weights = os.urandom(3 * 1024 * 1024)
    git.run("lfs", "track", "*.safetensors", cwd=work)
    (work / "model.safetensors").write_bytes(weights)
    git.run("add", ".gitattributes", "model.safetensors", cwd=work)
    git.run("commit", "-qm", "weights", cwd=work)
    git.run("push", "origin", "main", cwd=work, token=token)
    got = hf_hub_download(repo, "model.safetensors", endpoint=server.url, token=token)
    assert hashlib.sha256(Path(got).read_bytes()).digest() == hashlib.sha256(weights).digest()
    entry = next(f for f in api.list_repo_tree(repo, expand=True) if f.path == "model.safetensors")
    assert entry.lfs is not None and entry.lfs.sha256 == hashlib.sha256(weights).hexdigest()
    again = tmp_path / "again"
    git.run("clone", url, str(again), cwd=tmp_path, token=token)
    assert (again / "model.safetensors").read_bytes() == weights
    # A pointer to an object never uploaded is refused.
    fake = f"version https://git-lfs.github.com/spec/v1\noid sha256:{'ab' * 32}\nsize 12\n"
    env = {"GIT_LFS_SKIP_PUSH": "1"}
    git.run("lfs", "uninstall", "--local", cwd=again, check=False)
    (again / "fake.bin").write_text(fake)
    git.run("-c", "filter.lfs.clean=cat", "add", "fake.bin", cwd=again)
    git.run("commit", "-qm", "fake pointer", cwd=again)
    refused = git.run("push", "origin", "main", cwd=again, token=token, check=False, env=env)
    assert refused.returncode != 0 and "has not been uploaded" in refused.stderr, refused.stderr


def test_concurrent_pushes_and_api_commits_lose_nothing(
    server: Server, git: Git, hub: tuple[HfApi, str, str], tmp_path: Path
) -> None:
    """API commits and pushes on one branch: every commit lands, or its author is
    told to fetch first; a retry after fetching then lands too."""
    api, repo, token = hub
    clones = []
    for i in range(3):
        work = tmp_path / f"c{i}"
        git.run("clone", f"{server.url}/{repo}", str(work), cwd=tmp_path)
        (work / f"push{i}.txt").write_text(f"push {i}\n")
        git.run("add", "-A", cwd=work)
        git.run("commit", "-qm", f"push {i}", cwd=work)
        clones.append(work)
    results: dict[int, int] = {}

    def push(i: int) -> None:
        results[i] = git.run(
            "push", "origin", "main", cwd=clones[i], token=token, check=False
        ).returncode

    def commit(i: int) -> None:
        api.upload_file(path_or_fileobj=b"api\n", path_in_repo=f"api{i}.txt", repo_id=repo)

    threads = [threading.Thread(target=push, args=(i,)) for i in range(3)]
    threads += [threading.Thread(target=commit, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert list(results.values()).count(0) <= 1  # one fast-forward from the same base
    for i, work in enumerate(clones):
        if results[i] != 0:  # told to fetch first: pull (negotiating past local-only
            # commits, over either protocol version), then push again
            version = "0" if i % 2 else "2"
            git.run(
                "-c", f"protocol.version={version}", "pull", "--rebase", "origin", "main", cwd=work
            )
            git.run("push", "origin", "main", cwd=work, token=token)
    files = set(api.list_repo_files(repo))
    assert {f"push{i}.txt" for i in range(3)} | {f"api{i}.txt" for i in range(3)} <= files
