"""Who may clone, fetch and push with git: the hub's content rules, over git.

Private means invisible: an anonymous git request for a private repository gets
exactly the answer a missing one gets (401 with a Basic challenge, so that git asks
its credential helper), and a signed-in stranger gets 404 for both. A gated
repository needs an accepted request; a branch a staged release keeps closed is not
advertised and its commits cannot be fetched by id.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi

from .conftest import Server
from .gitclient import Git


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> Git:
    return Git(tmp_path_factory.mktemp("git-home"))


def _answer(r: httpx.Response) -> tuple[int, str | None, str | None, bytes]:
    return (
        r.status_code,
        r.headers.get("www-authenticate"),
        r.headers.get("x-error-code"),
        r.content,
    )


def test_private_answers_like_missing(
    server: Server, git: Git, repo_name: str, tmp_path: Path
) -> None:
    owner = server.user("gitowner")
    stranger = server.user("gitstranger")
    api = HfApi(endpoint=server.url, token=owner)
    repo = f"gitowner/{repo_name}"
    api.create_repo(repo, private=True)
    missing = f"gitowner/{repo_name}-missing"
    for service in ("git-upload-pack", "git-receive-pack"):
        answers = []
        for name in (repo, missing, f"{repo}.git"):
            r = httpx.get(f"{server.url}/{name}/info/refs", params={"service": service})
            answers.append(_answer(r))
        assert answers[0] == answers[1] == answers[2]
        assert answers[0][0] == 401 and (answers[0][1] or "").startswith("Basic")
        body = b"0000"
        posted = [
            _answer(httpx.post(f"{server.url}/{name}/{service}", content=body))
            for name in (repo, missing)
        ]
        assert posted[0] == posted[1] and posted[0][0] == 401
        auth = {"Authorization": f"Bearer {stranger}"}
        seen = [
            httpx.get(f"{server.url}/{n}/info/refs", params={"service": service}, headers=auth)
            for n in (repo, missing)
        ]
        assert [r.status_code for r in seen] == [404, 404]
        assert seen[0].content == seen[1].content.replace(b"-missing", b"")
    # git: asks for credentials (none here), and with the owner's token clones.
    url = f"{server.url}/{repo}"
    anonymous = git.run("ls-remote", url, cwd=tmp_path, check=False)
    assert anonymous.returncode != 0 and "could not read Username" in anonymous.stderr
    refused = git.run("ls-remote", url, cwd=tmp_path, token=stranger, check=False)
    assert refused.returncode != 0 and "not found" in refused.stderr.lower()
    listed = git.out("ls-remote", url, cwd=tmp_path, token=owner)
    assert "refs/heads/main" in listed and "HEAD" in listed
    git.run("clone", url, str(tmp_path / "c"), cwd=tmp_path, token=owner)
    # A token that may only read cannot push.
    reader = server.user("gitowner", write=False)
    work = tmp_path / "c"
    git.run("commit", "-q", "--allow-empty", "-m", "x", cwd=work)
    push = git.run("push", "origin", "main", cwd=work, token=reader, check=False)
    assert push.returncode != 0 and "403" in push.stderr


def test_gated_repository_needs_an_accepted_request(
    server: Server, git: Git, repo_name: str, tmp_path: Path
) -> None:
    owner = server.user("gitgater")
    reader = server.user(f"gitreader{repo_name.replace('-', '')}")
    api = HfApi(endpoint=server.url, token=owner)
    repo = f"gitgater/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"secret\n", path_in_repo="weights.txt", repo_id=repo)
    auth = {"Authorization": f"Bearer {owner}"}
    r = httpx.put(
        f"{server.url}/api/models/{repo}/settings", json={"gated": "manual"}, headers=auth
    )
    assert r.status_code == 200, r.text
    url = f"{server.url}/{repo}"
    anonymous = git.run("clone", url, str(tmp_path / "a"), cwd=tmp_path, check=False)
    assert anonymous.returncode != 0 and "could not read Username" in anonymous.stderr
    refused = git.run("clone", url, str(tmp_path / "b"), cwd=tmp_path, token=reader, check=False)
    assert refused.returncode != 0 and "restricted" in refused.stderr, refused.stderr
    name = f"gitreader{repo_name.replace('-', '')}"
    grant = httpx.post(
        f"{server.url}/api/models/{repo}/user-access-request/grant",
        json={"user": name},
        headers=auth,
    )
    assert grant.status_code == 200, grant.text
    git.run("clone", url, str(tmp_path / "c"), cwd=tmp_path, token=reader)
    assert (tmp_path / "c" / "weights.txt").read_bytes() == b"secret\n"


def test_closed_branch_is_not_advertised_nor_fetchable(
    server: Server, git: Git, repo_name: str, tmp_path: Path
) -> None:
    owner = server.user("gitplanner")
    stranger = server.user("gitplanstranger")
    api = HfApi(endpoint=server.url, token=owner)
    repo = f"gitplanner/{repo_name}"
    api.create_repo(repo)
    api.create_branch(repo, branch="preview")
    hidden = api.upload_file(
        path_or_fileobj=b"unreleased\n", path_in_repo="next.txt", repo_id=repo, revision="preview"
    ).oid
    plan = {
        "stages": [{"name": "later", "audience": "public", "opens": {"branches": ["preview"]}}],
        "rationale": "not yet",
    }
    auth = {"Authorization": f"Bearer {owner}"}
    r = httpx.put(f"{server.url}/api/models/{repo}/release-plan", json=plan, headers=auth)
    assert r.status_code == 200, r.text
    url = f"{server.url}/{repo}"
    # On a public repository git sends no credentials unless told to: the owner
    # sends the token ahead to see what only owners see.
    assert "refs/heads/preview" in git.out("ls-remote", url, cwd=tmp_path, token=owner, eager=True)
    for token in (None, stranger):
        listed = git.out("ls-remote", url, cwd=tmp_path, token=token, eager=True)
        assert "refs/heads/main" in listed and "preview" not in listed and hidden not in listed
    work = tmp_path / "w"
    git.run("clone", url, str(work), cwd=tmp_path, token=stranger)
    for version in ("2", "0"):
        fetched = git.run(
            "-c",
            f"protocol.version={version}",
            "fetch",
            "origin",
            hidden,
            cwd=work,
            token=stranger,
            check=False,
        )
        assert fetched.returncode != 0 and "not our ref" in fetched.stderr, fetched.stderr
    git.run("fetch", "origin", hidden, cwd=work, token=owner, eager=True)
