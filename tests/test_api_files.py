"""Reading files: tree, paths-info, resolve, revisions, ranges and error classes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import (
    EntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile, RepoFolder

from .conftest import Server


@pytest.fixture()
def populated(server: Server, repo_name: str, tmp_path: Path) -> tuple[HfApi, str, dict[str, str]]:
    """A repo with a v1 tag, a `dev` branch, and two commits on main."""
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    (tmp_path / "nested" / "deeper").mkdir(parents=True)
    (tmp_path / "config.json").write_text('{"v": 1}')
    (tmp_path / "nested" / "a.txt").write_text("alpha")
    (tmp_path / "nested" / "deeper" / "b.txt").write_text("beta")
    (tmp_path / "weights.safetensors").write_bytes(os.urandom(4096))
    c1 = api.upload_folder(repo_id=repo, folder_path=tmp_path, commit_message="v1").oid
    api.create_tag(repo, tag="v1")
    api.create_branch(repo, branch="dev")
    c2 = api.upload_file(
        path_or_fileobj=b'{"v": 2}', path_in_repo="config.json", repo_id=repo, commit_message="v2"
    ).oid
    return api, repo, {"c1": c1, "c2": c2}


def test_download_at_branch_tag_and_commit(server: Server, populated: tuple) -> None:
    api, repo, commits = populated
    kw = {"endpoint": server.url, "token": api.token}
    assert Path(hf_hub_download(repo, "config.json", **kw)).read_text() == '{"v": 2}'
    assert Path(hf_hub_download(repo, "config.json", revision="v1", **kw)).read_text() == '{"v": 1}'
    assert (
        Path(hf_hub_download(repo, "config.json", revision="dev", **kw)).read_text() == '{"v": 1}'
    )
    by_sha = hf_hub_download(repo, "config.json", revision=commits["c1"], **kw)
    assert Path(by_sha).read_text() == '{"v": 1}'
    assert commits["c1"] in by_sha  # the cache is keyed by our commit id

    snap = Path(snapshot_download(repo, revision="v1", **kw))
    assert (snap / "nested" / "deeper" / "b.txt").read_text() == "beta"
    assert sorted(str(p.relative_to(snap)) for p in snap.rglob("*") if p.is_file()) == [
        ".gitattributes",
        "config.json",
        "nested/a.txt",
        "nested/deeper/b.txt",
        "weights.safetensors",
    ]


def test_refs_commits_and_tree(server: Server, populated: tuple) -> None:
    api, repo, commits = populated
    refs = api.list_repo_refs(repo)
    assert {b.name: b.target_commit for b in refs.branches}["dev"] == commits["c1"]
    assert {b.name: b.target_commit for b in refs.branches}["main"] == commits["c2"]
    assert [(t.name, t.target_commit) for t in refs.tags] == [("v1", commits["c1"])]

    history = api.list_repo_commits(repo)
    assert [c.commit_id for c in history[:2]] == [commits["c2"], commits["c1"]]
    assert history[0].title == "v2" and history[-1].title == "initial commit"
    assert history[0].authors == ["alice"]

    top = list(api.list_repo_tree(repo))
    assert {e.path for e in top} == {
        ".gitattributes",
        "config.json",
        "nested",
        "weights.safetensors",
    }
    folder = next(e for e in top if e.path == "nested")
    assert isinstance(folder, RepoFolder)
    deep = list(api.list_repo_tree(repo, path_in_repo="nested", recursive=True))
    assert [e.path for e in deep] == ["nested/a.txt", "nested/deeper", "nested/deeper/b.txt"]
    weights = next(e for e in top if e.path == "weights.safetensors")
    assert isinstance(weights, RepoFile) and weights.lfs is not None  # .gitattributes pattern
    assert weights.size == 4096 and len(weights.lfs.sha256) == 64

    expanded = list(api.list_repo_tree(repo, expand=True))
    config = next(e for e in expanded if e.path == "config.json")
    assert isinstance(config, RepoFile) and config.last_commit is not None
    assert config.last_commit.oid == commits["c2"]
    nested = next(e for e in expanded if e.path == "nested")
    assert nested.last_commit is not None and nested.last_commit.oid == commits["c1"]

    assert set(api.list_repo_files(repo, revision="v1")) == {
        ".gitattributes",
        "config.json",
        "nested/a.txt",
        "nested/deeper/b.txt",
        "weights.safetensors",
    }

    info = api.get_paths_info(repo, ["config.json", "nested", "missing.txt"])
    assert sorted(i.path for i in info) == ["config.json", "nested"]


def test_tree_pagination(server: Server, repo_name: str) -> None:
    from huggingface_hub import CommitOperationAdd

    api = HfApi(endpoint=server.url, token=server.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    ops = [CommitOperationAdd(f"many/f{i:04d}.txt", str(i).encode()) for i in range(1205)]
    api.create_commit(repo, ops, commit_message="many files")
    first = httpx.get(f"{server.url}/api/models/{repo}/tree/main/many")
    assert len(first.json()) == 1000 and 'rel="next"' in first.headers["link"]
    assert len(api.list_repo_files(repo)) == 1206


def test_resolve_headers_and_ranges(server: Server, populated: tuple) -> None:
    _api, repo, commits = populated
    url = f"{server.url}/{repo}/resolve/main/config.json"
    head = httpx.head(url, headers={"Accept-Encoding": "identity"})
    assert head.status_code == 200
    assert head.headers["x-repo-commit"] == commits["c2"]
    body = b'{"v": 2}'
    git_sha1 = hashlib.sha1(b"blob %d\0" % len(body) + body).hexdigest()
    assert head.headers["etag"] == f'"{git_sha1}"'
    assert head.headers["content-length"] == str(len(body))  # real size on HEAD

    part = httpx.get(url, headers={"Range": "bytes=2-4"})
    assert part.status_code == 206 and part.content == body[2:5]
    assert part.headers["content-range"] == f"bytes 2-4/{len(body)}"

    lfs = httpx.head(f"{server.url}/{repo}/resolve/main/weights.safetensors")
    assert lfs.headers["x-linked-size"] == "4096"
    assert lfs.headers["x-linked-etag"] == lfs.headers["etag"]
    assert len(lfs.headers["x-linked-etag"].strip('"')) == 64
    # User files never run as pages in the hub's origin.
    assert head.headers["x-content-type-options"] == "nosniff"
    assert "sandbox" in head.headers["content-security-policy"]


def test_url_encoded_revisions(server: Server, populated: tuple) -> None:
    api, repo, commits = populated
    api.create_branch(repo, branch="feature/x", revision=commits["c1"])
    files = api.list_repo_files(repo, revision="feature/x")
    assert "nested/a.txt" in files
    r = httpx.get(f"{server.url}/{repo}/resolve/feature%2Fx/config.json")
    assert r.status_code == 200 and r.content == b'{"v": 1}'
    r = httpx.get(f"{server.url}/api/models/{repo}/tree/feature%2Fx/nested%2Fdeeper")
    assert [e["path"] for e in r.json()] == ["nested/deeper/b.txt"]
    api.delete_branch(repo, branch="feature/x")
    with pytest.raises(RevisionNotFoundError):
        api.list_repo_files(repo, revision="feature/x")


def test_error_classes(server: Server, populated: tuple) -> None:
    api, repo, commits = populated
    kw = {"endpoint": server.url, "token": api.token}
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download("alice/does-not-exist", "config.json", **kw)
    with pytest.raises(RevisionNotFoundError):
        hf_hub_download(repo, "config.json", revision="nope", **kw)
    with pytest.raises(EntryNotFoundError):
        hf_hub_download(repo, "missing.json", **kw)
    with pytest.raises(RevisionNotFoundError):
        api.model_info(repo, revision="0" * 40)
    missing = httpx.head(f"{server.url}/{repo}/resolve/main/missing.json")
    assert missing.headers["x-error-code"] == "EntryNotFound"
    assert missing.headers["x-repo-commit"] == commits["c2"]  # lets clients cache the miss
    assert api.file_exists(repo, "config.json") and not api.file_exists(repo, "missing.json")
    assert api.revision_exists(repo, "v1") and not api.revision_exists(repo, "v9")
    assert api.repo_exists(repo) and not api.repo_exists("alice/nope-nope")


def test_tags_and_branches_lifecycle(server: Server, populated: tuple) -> None:
    api, repo, commits = populated
    api.create_tag(repo, tag="release", revision=commits["c2"], tag_message="rel")
    with pytest.raises(Exception) as dup:
        api.create_tag(repo, tag="release")
    assert dup.value.response.status_code == 409  # type: ignore[attr-defined]
    api.create_tag(repo, tag="release", exist_ok=True)
    api.create_branch(repo, branch="dev", exist_ok=True)
    api.delete_tag(repo, tag="release")
    assert "release" not in [t.name for t in api.list_repo_refs(repo).tags]
    with pytest.raises(RevisionNotFoundError):
        api.delete_tag(repo, tag="release")


def test_download_counter(server: Server, populated: tuple) -> None:
    api, repo, _ = populated
    before = api.model_info(repo).downloads
    hf_hub_download(repo, "config.json", endpoint=server.url, token=api.token, force_download=True)
    assert api.model_info(repo).downloads == before + 1
