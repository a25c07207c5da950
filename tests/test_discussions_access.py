"""Pull requests under gating and staged release plans: a PR ref is content like any
revision, and a pull request never becomes a way round what the caller may not see."""

from __future__ import annotations

import hashlib
import json

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi
from huggingface_hub.errors import HfHubHTTPError

from .conftest import Server

WEIGHTS = b"gated weights\n" * 1000


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_gated_files_stay_gated_through_pull_requests(server: Server, repo_name: str) -> None:
    owner = HfApi(endpoint=server.url, token=server.user("gina"))
    token = server.user("outsider")
    outsider = HfApi(endpoint=server.url, token=token)
    repo = f"gina/{repo_name}"
    owner.create_repo(repo)
    owner.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="weights.bin", repo_id=repo)
    r = httpx.put(
        f"{server.url}/api/models/{repo}/settings",
        json={"gated": "manual"},
        headers=_auth(server.user("gina")),
    )
    assert r.status_code == 200
    # A stranger without an accepted request may still propose a change...
    info = outsider.upload_file(
        path_or_fileobj=b"# Better card\n", path_in_repo="README.md", repo_id=repo, create_pr=True
    )
    assert info.pr_num == 1
    # ...but the gated file is as closed at refs/pr/1 as on main.
    gated = httpx.get(
        f"{server.url}/{repo}/resolve/refs%2Fpr%2F1/weights.bin", headers=_auth(token)
    )
    assert gated.status_code == 403 and gated.headers["X-Error-Code"] == "GatedRepo"
    # Naming the gated file's LFS object by hash, to copy it to an open path
    # (README.md), is refused: only bytes sent with the commit are taken.
    oid = hashlib.sha256(WEIGHTS).hexdigest()
    lines = [
        {"key": "header", "value": {"summary": "copy"}},
        {"key": "lfsFile", "value": {"path": "README.md", "algo": "sha256", "oid": oid}},
    ]
    body = "\n".join(json.dumps(x) for x in lines).encode()
    for url in (
        f"{server.url}/api/models/{repo}/commit/main?create_pr=1",
        f"{server.url}/api/models/{repo}/commit/refs%2Fpr%2F1",
    ):
        r = httpx.post(url, content=body, headers=_auth(token))
        assert r.status_code == 403, r.text
    readme = httpx.get(f"{server.url}/{repo}/resolve/refs%2Fpr%2F1/README.md", headers=_auth(token))
    assert readme.status_code == 200 and readme.content == b"# Better card\n"
    # The owner's diff shows the change; the outsider's shows names, not gated bytes.
    diff = owner.get_discussion_details(repo, 1).diff or ""
    assert "+# Better card" in diff


def test_closed_branches_stay_closed_through_pull_requests(server: Server, repo_name: str) -> None:
    owner_token = server.user("gina")
    owner = HfApi(endpoint=server.url, token=owner_token)
    token = server.user("outsider")
    outsider = HfApi(endpoint=server.url, token=token)
    repo = f"gina/{repo_name}"
    owner.create_repo(repo)
    owner.create_branch(repo, branch="secret")
    owner.upload_file(
        path_or_fileobj=b"unreleased\n", path_in_repo="new.txt", repo_id=repo, revision="secret"
    )
    plan = {
        "stages": [
            {"name": "owners", "audience": "owners", "opens": {"branches": ["secret"]}},
            {"name": "everyone", "audience": "public", "opens": {"branches": ["secret"]}},
        ],
        "rationale": "not yet",
    }
    r = httpx.put(
        f"{server.url}/api/models/{repo}/release-plan", json=plan, headers=_auth(owner_token)
    )
    assert r.status_code == 200, r.text
    # A pull request from the closed branch is refused to the outsider...
    with pytest.raises(HfHubHTTPError) as refused:
        outsider.create_commit(
            repo,
            [CommitOperationAdd("x.txt", b"x")],
            commit_message="from the secret branch",
            revision="secret",
            create_pr=True,
        )
    assert refused.value.response.status_code == 403
    # ...and one an owner opens from it is closed to them as the branch is.
    owner_pr = owner.create_commit(
        repo,
        [CommitOperationAdd("rc.txt", b"rc")],
        commit_message="Release candidate",
        revision="secret",
        create_pr=True,
    )
    assert owner_pr.pr_num == 1
    hidden = httpx.get(f"{server.url}/{repo}/resolve/refs%2Fpr%2F1/new.txt", headers=_auth(token))
    assert hidden.status_code == 403
    details = outsider.get_discussion_details(repo, 1)
    assert details.diff is None and details.conflicting_files == []
    refs = outsider.list_repo_refs(repo, include_pull_requests=True)
    assert refs.pull_requests == []
    seen = owner.list_repo_refs(repo, include_pull_requests=True).pull_requests or []
    assert [r.ref for r in seen] == ["refs/pr/1"]
    # A pull request based on main, which is open, is the outsider's to read.
    mine = outsider.upload_file(
        path_or_fileobj=b"fix\n", path_in_repo="fix.txt", repo_id=repo, create_pr=True
    )
    got = httpx.get(
        f"{server.url}/{repo}/resolve/refs%2Fpr%2F{mine.pr_num}/fix.txt", headers=_auth(token)
    )
    # Its new commit is reachable from no open ref: under a plan that closes refs,
    # pull requests with new commits are for owners (README "Security rules").
    assert got.status_code == 403
