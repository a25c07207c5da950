"""A repository with every kind of restricted content, for the content-access tests.

It is gated (manual) and follows a staged release plan whose first stage, opened,
shows ``staged/*`` to one partner; the plan also names a branch (``xl``) and a tag
(``xl-v1``) that no stage has opened. Its content:

- main, in one commit: README.md (open on a gated repository), config.json (gated
  text), weights.bin (gated, LFS), staged/notes.txt and staged/w.bin (staged);
- the tag ``v1`` on main;
- the branch ``xl``, one commit ahead of main: xl/x.txt, xl/w.bin, and a change to
  config.json; the closed tag ``xl-v1`` and the tag ``xl-alias`` (which the plan does
  not name) on its head.

Every file's bytes carry a marker (:func:`marker`), so a test can tell whether a
page or an answer showed them.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import httpx
from huggingface_hub import CommitOperationAdd, HfApi

MAIN_FILES = ("README.md", "config.json", "weights.bin", "staged/notes.txt", "staged/w.bin")
XL_FILES = ("xl/x.txt", "xl/w.bin", "config.json")
PATHS = (
    "README.md",
    ".gitattributes",
    "config.json",
    "weights.bin",
    "staged/notes.txt",
    "staged/w.bin",
    "xl/x.txt",
    "nope.txt",
)


def marker(repo: str, path: str, branch: str = "main") -> str:
    return f"MARK-{hashlib.sha256(f'{repo}:{branch}:{path}'.encode()).hexdigest()[:16]}"


def body(repo: str, path: str, branch: str = "main") -> bytes:
    if path == "README.md":
        return f"---\nlicense: mit\n---\n# Card\n\n{marker(repo, path, branch)}\n".encode()
    return f"{marker(repo, path, branch)} {path}\n".encode()


def plan(partner: str) -> dict[str, Any]:
    return {
        "rationale": "content access tests",
        "stages": [
            {
                "name": "partners",
                "audience": {"kind": "members", "users": [partner]},
                "opens": {"files": ["staged/*"]},
            },
            {
                "name": "xl preview",
                "audience": {"kind": "members", "users": [partner]},
                "opens": {"branches": ["xl"], "tags": ["xl-v1"]},
            },
            {
                "name": "everyone",
                "audience": "public",
                "opens": {"files": ["staged/*"], "branches": ["xl"], "tags": ["xl-v1"]},
            },
        ],
    }


@dataclasses.dataclass
class ContentRepo:
    repo: str
    main: str  # commit ids
    xl: str
    first: str  # the repository's first commit (only .gitattributes)

    def expected_bytes(self, rev_commit: str, path: str) -> bytes | None:
        if rev_commit == self.xl and path in XL_FILES:
            return body(self.repo, path, "xl")
        if path in MAIN_FILES:
            return body(self.repo, path)
        return None


def build(url: str, token: str, repo: str, *, private: bool, partner: str) -> ContentRepo:
    """Create ``repo`` (as the owner of ``token``) with the content described above."""
    api = HfApi(endpoint=url, token=token)
    api.create_repo(repo, private=private)
    first = api.model_info(repo).sha
    assert first is not None
    main = api.create_commit(
        repo,
        [CommitOperationAdd(p, body(repo, p)) for p in MAIN_FILES],
        commit_message="Add the model, its config and the staged files",
    ).oid
    api.create_tag(repo, tag="v1")
    api.create_branch(repo, branch="xl")
    xl = api.create_commit(
        repo,
        [CommitOperationAdd(p, body(repo, p, "xl")) for p in XL_FILES],
        commit_message="The XL model",
        revision="xl",
    ).oid
    api.create_tag(repo, tag="xl-v1", revision="xl")
    api.create_tag(repo, tag="xl-alias", revision="xl")
    auth = {"Authorization": f"Bearer {token}"}
    r = httpx.put(f"{url}/api/models/{repo}/settings", json={"gated": "manual"}, headers=auth)
    assert r.status_code == 200, r.text
    r = httpx.put(f"{url}/api/models/{repo}/release-plan", json=plan(partner), headers=auth)
    assert r.status_code == 200, r.text
    r = httpx.post(f"{url}/api/models/{repo}/release-plan/promote", json={}, headers=auth)
    assert r.status_code == 200, r.text
    return ContentRepo(repo, main, xl, first)
