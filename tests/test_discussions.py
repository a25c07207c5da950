"""Discussions and pull requests through the real huggingface_hub client."""

from __future__ import annotations

import concurrent.futures
import json
import os
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.community import (
    DiscussionComment,
    DiscussionCommit,
    DiscussionStatusChange,
    DiscussionTitleChange,
)
from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

from . import clients
from .conftest import Server


def apis(server: Server) -> tuple[HfApi, HfApi]:
    return (
        HfApi(endpoint=server.url, token=server.user("dora")),
        HfApi(endpoint=server.url, token=server.user("pete")),
    )


def test_discussion_lifecycle(server: Server, repo_name: str) -> None:
    owner, stranger = apis(server)
    repo = f"dora/{repo_name}"
    owner.create_repo(repo)
    d = stranger.create_discussion(repo, title="Wrong licence?", description="The card says MIT.")
    assert d.num == 1 and not d.is_pull_request and d.status == "open"
    assert d.author == "pete" and d.repo_id == repo
    first = d.events[0]
    assert isinstance(first, DiscussionComment) and first.content == "The card says MIT."

    reply = owner.comment_discussion(repo, 1, "It is Apache-2.0, fixing.")
    assert reply.content == "It is Apache-2.0, fixing." and reply.author == "dora"
    edited = owner.edit_discussion_comment(repo, 1, reply.id, "It is Apache-2.0.")
    assert edited.content == "It is Apache-2.0." and edited.edited
    # Only its author (or a writer) edits a comment.
    with pytest.raises(HfHubHTTPError) as refused:
        stranger.edit_discussion_comment(repo, 1, reply.id, "vandalised")
    assert refused.value.response.status_code == 403

    renamed = stranger.rename_discussion(repo, 1, "Licence: MIT or Apache?")
    assert isinstance(renamed, DiscussionTitleChange)
    assert (renamed.old_title, renamed.new_title) == ("Wrong licence?", "Licence: MIT or Apache?")
    closed = owner.change_discussion_status(repo, 1, "closed", comment="Answered.")
    assert isinstance(closed, DiscussionStatusChange) and closed.new_status == "closed"

    details = stranger.get_discussion_details(repo, 1)
    assert details.status == "closed" and details.title == "Licence: MIT or Apache?"
    kinds = [type(e).__name__ for e in details.events]
    assert kinds == [
        "DiscussionComment",
        "DiscussionComment",
        "DiscussionTitleChange",
        "DiscussionComment",
        "DiscussionStatusChange",
    ]
    assert details.events[1].content == "It is Apache-2.0."  # type: ignore[attr-defined]
    assert details.target_branch is None and details.diff is None

    # Hiding erases the text for good; the owner may hide anyone's comment.
    hidden = owner.hide_discussion_comment(repo, 1, first.id)
    assert hidden.hidden and hidden.content == ""
    again = stranger.get_discussion_details(repo, 1).events[0]
    assert isinstance(again, DiscussionComment) and again.hidden and again.content == ""
    log = httpx.get(
        f"{server.url}/api/models/{repo}/audit-log",
        headers={"Authorization": f"Bearer {server.user('dora')}"},
    ).json()
    events = {e["kind"]: e for e in log}
    assert events["discussion.comment_hidden"]["actor"] == "dora"
    assert events["discussion.status_changed"]["data"]["status"] == "closed"


def test_listing_filters_and_pages(server: Server, repo_name: str) -> None:
    owner, stranger = apis(server)
    repo = f"dora/{repo_name}"
    owner.create_repo(repo)
    for i in range(55):
        api = stranger if i % 2 else owner
        api.create_discussion(repo, title=f"Topic number {i}")
    owner.create_pull_request(repo, title="A draft change")
    owner.change_discussion_status(repo, 3, "closed")
    everything = list(stranger.get_repo_discussions(repo))
    assert [d.num for d in everything] == list(range(56, 0, -1))  # every page followed
    prs = list(stranger.get_repo_discussions(repo, discussion_type="pull_request"))
    assert [(d.num, d.status, d.is_pull_request) for d in prs] == [(56, "draft", True)]
    by_pete = list(stranger.get_repo_discussions(repo, author="pete"))
    assert len(by_pete) == 27 and {d.author for d in by_pete} == {"pete"}
    closed = list(stranger.get_repo_discussions(repo, discussion_status="closed"))
    assert [d.num for d in closed] == [3]
    assert len(list(stranger.get_repo_discussions(repo, discussion_status="open"))) == 55


def test_numbers_are_shared_and_never_repeat_under_concurrency(
    server: Server, repo_name: str
) -> None:
    owner, stranger = apis(server)
    repo = f"dora/{repo_name}"
    owner.create_repo(repo)

    def open_one(i: int) -> int:
        api = owner if i % 2 else stranger
        if i % 3 == 0:
            return api.create_pull_request(repo, title=f"PR {i}").num
        return api.create_discussion(repo, title=f"Discussion {i}").num

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(open_one, range(24)))
    assert sorted(numbers) == list(range(1, 25))


def test_pull_request_by_commit_and_merge(server: Server, repo_name: str) -> None:
    owner, contributor = apis(server)
    repo = f"dora/{repo_name}"
    owner.create_repo(repo)
    owner.upload_file(path_or_fileobj=b"lr: 0.1\n", path_in_repo="config.yaml", repo_id=repo)
    owner.upload_file(path_or_fileobj=b"# Card\n", path_in_repo="README.md", repo_id=repo)

    # A stranger (no role) proposes a change: a new refs/pr/N with the commit.
    info = contributor.upload_file(
        path_or_fileobj=b"lr: 0.01\n",
        path_in_repo="config.yaml",
        repo_id=repo,
        create_pr=True,
        commit_message="Lower the learning rate",
    )
    assert info.pr_url == f"{server.url}/{repo}/discussions/1"
    assert info.pr_revision == "refs/pr/1" and info.pr_num == 1
    # Nothing reached main; the PR ref resolves everywhere a revision does.
    path = owner.hf_hub_download(repo, "config.yaml", revision="main")
    assert Path(path).read_bytes() == b"lr: 0.1\n"
    path = contributor.hf_hub_download(repo, "config.yaml", revision="refs/pr/1")
    assert Path(path).read_bytes() == b"lr: 0.01\n"
    assert contributor.model_info(repo, revision="refs/pr/1").sha == info.oid
    refs = contributor.list_repo_refs(repo, include_pull_requests=True)
    assert [(r.ref, r.target_commit) for r in refs.pull_requests or []] == [("refs/pr/1", info.oid)]
    assert [b.name for b in refs.branches] == ["main"]

    # More commits to the PR by its author; a stranger's are refused.
    second = contributor.create_commit(
        repo,
        [CommitOperationAdd("notes.md", b"why\n")],
        commit_message="Explain the change",
        revision="refs/pr/1",
    )
    with pytest.raises(HfHubHTTPError) as refused:
        HfApi(endpoint=server.url, token=server.user("mallory")).upload_file(
            path_or_fileobj=b"x", path_in_repo="x", repo_id=repo, revision="refs/pr/1"
        )
    assert refused.value.response.status_code == 403

    details = owner.get_discussion_details(repo, 1)
    assert details.is_pull_request and details.status == "open"
    assert details.target_branch == "refs/heads/main"
    assert details.conflicting_files == [] and details.merge_commit_oid is None
    commits = [e for e in details.events if isinstance(e, DiscussionCommit)]
    assert [(c.summary, c.oid) for c in commits] == [
        ("Lower the learning rate", info.oid),
        ("Explain the change", second.oid),
    ]
    assert details.diff is not None
    assert "diff --git a/config.yaml b/config.yaml" in details.diff
    assert "-lr: 0.1\n+lr: 0.01\n" in details.diff
    assert "new file mode" in details.diff and "+why\n" in details.diff

    # Main moves meanwhile on another file: still mergeable, by writers only.
    owner.upload_file(path_or_fileobj=b"# Card v2\n", path_in_repo="README.md", repo_id=repo)
    with pytest.raises(HfHubHTTPError) as refused:
        contributor.merge_pull_request(repo, 1)
    assert refused.value.response.status_code == 403
    owner.merge_pull_request(repo, 1, comment="Thanks!")
    merged = owner.get_discussion_details(repo, 1)
    assert merged.status == "merged" and merged.merge_commit_oid is not None
    head = owner.model_info(repo).sha
    assert head == merged.merge_commit_oid
    files = {
        f: Path(owner.hf_hub_download(repo, f, revision=head)).read_bytes()
        for f in ("config.yaml", "notes.md", "README.md")
    }
    assert files == {
        "config.yaml": b"lr: 0.01\n",
        "notes.md": b"why\n",
        "README.md": b"# Card v2\n",
    }
    # A real merge commit: the PR's commits are now in main's history.
    history = [c.commit_id for c in owner.list_repo_commits(repo)]
    assert history[0] == head and {info.oid, second.oid} <= set(history)
    assert (
        owner.list_repo_commits(repo)[0].title == "Merge pull request #1: Lower the learning rate"
    )
    log = httpx.get(
        f"{server.url}/api/models/{repo}/audit-log",
        headers={"Authorization": f"Bearer {server.user('dora')}"},
    ).json()
    merges = [e for e in log if e["kind"] == "discussion.merged"]
    assert [(e["actor"], e["data"]["commit"], e["data"]["num"]) for e in merges] == [
        ("dora", head, 1)
    ]
    with pytest.raises(HfHubHTTPError) as again:
        owner.merge_pull_request(repo, 1)
    assert again.value.response.status_code == 409
    # A merged PR takes no more commits.
    with pytest.raises(HfHubHTTPError) as late:
        contributor.upload_file(
            path_or_fileobj=b"late", path_in_repo="late.txt", repo_id=repo, revision="refs/pr/1"
        )
    assert late.value.response.status_code == 409


def test_conflicting_pull_request_is_refused_with_the_files(server: Server, repo_name: str) -> None:
    owner, contributor = apis(server)
    repo = f"dora/{repo_name}"
    owner.create_repo(repo)
    owner.upload_file(path_or_fileobj=b"a\n", path_in_repo="config.json", repo_id=repo)
    contributor.upload_file(
        path_or_fileobj=b"b\n", path_in_repo="config.json", repo_id=repo, create_pr=True
    )
    owner.upload_file(path_or_fileobj=b"c\n", path_in_repo="config.json", repo_id=repo)
    details = owner.get_discussion_details(repo, 1)
    assert details.conflicting_files == ["config.json"]
    before = owner.model_info(repo).sha
    with pytest.raises(HfHubHTTPError) as conflict:
        owner.merge_pull_request(repo, 1)
    assert conflict.value.response.status_code == 409
    assert "config.json" in str(conflict.value.server_message or conflict.value)
    assert owner.model_info(repo).sha == before
    # Resolving on the PR (a writer may commit to any PR) makes it mergeable.
    owner.upload_file(
        path_or_fileobj=b"c\n", path_in_repo="config.json", repo_id=repo, revision="refs/pr/1"
    )
    assert owner.get_discussion_details(repo, 1).conflicting_files == []
    owner.merge_pull_request(repo, 1)
    assert owner.get_discussion_details(repo, 1).status == "merged"


def test_create_pull_request_then_commit_and_parent_commit(
    server: Server, repo_name: str, tmp_path: Path
) -> None:
    owner, contributor = apis(server)
    repo = f"dora/{repo_name}"
    owner.create_repo(repo)
    first = owner.upload_file(path_or_fileobj=b"1", path_in_repo="v.txt", repo_id=repo)
    owner.upload_file(path_or_fileobj=b"2", path_in_repo="v.txt", repo_id=repo)
    pr = contributor.create_pull_request(repo, title="Draft, commits to follow")
    assert pr.status == "draft" and pr.git_reference == "refs/pr/1"
    contributor.upload_file(
        path_or_fileobj=b"3", path_in_repo="w.txt", repo_id=repo, revision=pr.git_reference
    )
    assert contributor.get_discussion_details(repo, 1).status == "open"
    # create_pr with parent_commit starts the PR there.
    info = contributor.create_commit(
        repo,
        [CommitOperationAdd("old.txt", b"from the past")],
        commit_message="From an old commit",
        create_pr=True,
        parent_commit=first.oid,
    )
    assert info.pr_num == 2
    commits = contributor.list_repo_commits(repo, revision="refs/pr/2")
    assert [c.commit_id for c in commits][1] == first.oid
    # upload_folder too; each call opens a new pull request.
    folder = tmp_path / "folder"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.txt").write_bytes(b"a")
    (folder / "b.txt").write_bytes(b"b")
    up = contributor.upload_folder(repo_id=repo, folder_path=folder, create_pr=True)
    assert up.pr_revision == "refs/pr/3"
    files = contributor.list_repo_files(repo, revision="refs/pr/3")
    assert {"sub/a.txt", "b.txt", "v.txt", "w.txt"} - set(files) == {"w.txt"}


def test_private_discussions_are_invisible_and_discussions_can_be_turned_off(
    server: Server, repo_name: str
) -> None:
    owner, stranger = apis(server)
    secret = f"dora/{repo_name}-private"
    owner.create_repo(secret, private=True)
    owner.create_discussion(secret, title="Internal note")
    for call in (
        lambda: list(stranger.get_repo_discussions(secret)),
        lambda: stranger.get_discussion_details(secret, 1),
        lambda: stranger.create_discussion(secret, title="Let me in"),
        lambda: stranger.comment_discussion(secret, 1, "hello"),
    ):
        with pytest.raises(RepositoryNotFoundError):
            call()
    anonymous = HfApi(endpoint=server.url, token=False)
    with pytest.raises(RepositoryNotFoundError):
        list(anonymous.get_repo_discussions(secret))

    public = f"dora/{repo_name}"
    owner.create_repo(public)
    assert list(anonymous.get_repo_discussions(public)) == []
    with pytest.raises(HfHubHTTPError) as refused:
        anonymous.create_discussion(public, title="Anonymous")
    assert refused.value.response.status_code == 401
    r = httpx.put(
        f"{server.url}/api/models/{public}/settings",
        json={"discussionsDisabled": True},
        headers={"Authorization": f"Bearer {server.user('dora')}"},
    )
    assert r.status_code == 200 and r.json()["discussionsDisabled"] is True
    for call in (
        lambda: stranger.create_discussion(public, title="Closed door"),
        lambda: stranger.upload_file(
            path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=public, create_pr=True
        ),
    ):
        with pytest.raises(HfHubHTTPError) as off:
            call()
        assert off.value.response.status_code == 403
    assert owner.create_discussion(public, title="Owners still can").num == 1


LOAD_PR = r"""
import json, sys
import datasets
from transformers import AutoConfig

args = json.loads(sys.argv[1])
config = AutoConfig.from_pretrained(args["model"], revision="refs/pr/1")
rows = datasets.load_dataset(args["dataset"], revision="refs/pr/1", split="train").to_list()
print("RESULT " + json.dumps({"hidden": config.hidden_size, "rows": rows}))
"""


@pytest.mark.slow
def test_transformers_and_datasets_load_a_pull_request(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    server = sqlite_server
    owner, contributor = apis(server)
    model, dataset = f"dora/{repo_name}", f"dora/{repo_name}-data"
    owner.create_repo(model)
    owner.create_repo(dataset, repo_type="dataset")
    config = {"model_type": "bert", "hidden_size": 32, "num_attention_heads": 2}
    owner.upload_file(
        path_or_fileobj=json.dumps(config).encode(), path_in_repo="config.json", repo_id=model
    )
    owner.upload_file(
        path_or_fileobj=b"a,b\n1,2\n", path_in_repo="data.csv", repo_id=dataset, repo_type="dataset"
    )
    config["hidden_size"] = 64
    contributor.upload_file(
        path_or_fileobj=json.dumps(config).encode(),
        path_in_repo="config.json",
        repo_id=model,
        create_pr=True,
    )
    contributor.upload_file(
        path_or_fileobj=b"a,b\n1,2\n3,4\n",
        path_in_repo="data.csv",
        repo_id=dataset,
        repo_type="dataset",
        create_pr=True,
    )
    env = clients.client_env(
        server, server.user("pete"), tmp_path / "home", HF_DATASETS_CACHE=str(tmp_path / "ds")
    )
    got = clients.run_python(LOAD_PR, {"model": model, "dataset": dataset}, env)
    assert got == {"hidden": 64, "rows": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]}


def test_a_strangers_pull_request_with_an_lfs_file(
    lfs_server: Server, hf_env: None, repo_name: str
) -> None:
    owner, stranger = apis(lfs_server)
    repo = f"dora/{repo_name}"
    owner.create_repo(repo)
    weights = os.urandom(2 * 1000 * 1000)  # over regular_upload_max_bytes: sent via LFS
    info = stranger.upload_file(
        path_or_fileobj=weights, path_in_repo="model.bin", repo_id=repo, create_pr=True
    )
    assert info.pr_num == 1
    got = Path(stranger.hf_hub_download(repo, "model.bin", revision="refs/pr/1")).read_bytes()
    assert got == weights
    siblings = owner.model_info(repo, revision="refs/pr/1", files_metadata=True).siblings or []
    lfs = {s.rfilename: s.lfs for s in siblings}
    assert lfs["model.bin"] is not None and lfs["model.bin"].size == len(weights)
    owner.merge_pull_request(repo, 1)
    assert Path(owner.hf_hub_download(repo, "model.bin")).read_bytes() == weights
