"""Every route against every kind of caller, on public and private repositories.

The expectations are written from the rules, not from access.py. Each actor has
a role over the organisation's repositories, a role over the organisation, and a
credential that caps what it may do; every operation needs one level of NEEDS.
`test_the_matrix_reaches_every_route` checks against the app's own route table
that the operations below reach every route there is, pages included.

The repositories are gated (manual) and carry a staged release plan, so that
downloads, access-request decisions and release decisions are real operations
rather than "not gated" or "no plan" answers.

What content routes reveal (which files, refs and bytes, at every spelling of every
revision) is the matrix's other half, in `tests/test_access_content.py`: there every
content route is compared with the one access function, ``access.content``.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import itertools
import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import yaml
from huggingface_hub import HfApi

from modelcommons.app import build_router

from .conftest import Server

CSRF = "matrix-csrf-token-at-least-32-characters"
PASSWORD = "a long enough password"
SAFE = frozenset({"GET", "HEAD"})
LEVEL = {None: 0, "read": 1, "write": 2, "admin": 3}
CREATE_ROLES = ("contributor", "write", "admin")
_unique = itertools.count()

#: What an operation needs. Repository needs are checked against the repository's
#: visibility first: without read access a private repository is simply not there.
NEEDS = (
    "public",  # anyone, signed in or not, gets the same answer
    "user",  # signed in
    "self",  # signed in as the owner of the thing (org_admin's spare token)
    "user-write",  # signed in, with a credential that may write (webhooks)
    "self-write",  # the owner of the thing, with a credential that may write
    "ns-write",  # may create repositories in the organisation
    "ns-admin",  # administers the organisation
    "read",  # can see the repository
    "download",  # can download a gated file: a role over the repository
    "participate",  # signed in, can see it, and the credential may act (likes, approvals)
    "participate-download",  # participate, and may download every file (a role here)
    "write",
    "admin",
)


@dataclasses.dataclass(frozen=True)
class Actor:
    repo_role: str | None  # over "public" and "private" ("others" for the contributor)
    ns_role: str | None  # over the organisation
    cap: str  # the most its credential allows: read, write or admin
    credential: str  # none, token, session or forged-session (a session without CSRF proof)
    person: str | None  # whose account
    in_scope: bool = True  # a fine-grained token that does not reach the repositories
    repo_scoped: bool = False  # a fine-grained token naming the three repositories only
    bare_token: bool = False  # sent to pages too, where tokens count for nothing


ACTORS: dict[str, Actor] = {
    "anonymous": Actor(None, None, "admin", "none", None),
    "stranger": Actor(None, None, "admin", "token", "stranger"),
    "org_read": Actor("read", "read", "admin", "token", "org_read"),
    # The creator is a contributor, on repositories it created; "contributor" is
    # the same person, on one it did not create.
    "creator": Actor("write", "contributor", "admin", "token", "creator"),
    "contributor": Actor("read", "contributor", "admin", "token", "creator"),
    "org_write": Actor("write", "write", "admin", "token", "org_write"),
    "org_admin": Actor("admin", "admin", "admin", "token", "org_admin"),
    "admin_readonly_token": Actor("admin", "admin", "read", "token", "org_admin", bare_token=True),
    "fine_read": Actor(
        "admin", None, "read", "token", "org_admin", repo_scoped=True, bare_token=True
    ),
    "fine_write": Actor(
        "admin", None, "write", "token", "org_admin", repo_scoped=True, bare_token=True
    ),
    "fine_elsewhere": Actor(
        None, None, "admin", "token", "org_admin", in_scope=False, bare_token=True
    ),
    "admin_session": Actor("admin", "admin", "admin", "session", "org_admin"),
    "admin_forged_session": Actor("admin", "admin", "admin", "forged-session", "org_admin"),
}
PEOPLE = ("stranger", "org_read", "creator", "org_write", "org_admin")


@dataclasses.dataclass
class Call:
    """One actor about to call one operation on one repository."""

    client: httpx.Client
    setup: httpx.Client  # org_admin's, for preparing disposable objects
    org: str
    repo: str  # "org/name"
    private: bool
    creator_token: str  # who created the repository (for disposable twins)
    csrf: str
    names: dict[str, str]

    def fresh(self, *, plan: bool = False) -> str:
        """A disposable twin of the repository, for operations that destroy it."""
        name = f"d{next(_unique)}"
        r = self.setup.post(
            "/api/repos/create",
            json={"name": name, "organization": self.org, "private": self.private},
            headers={"Authorization": f"Bearer {self.creator_token}"},
        )
        assert r.status_code == 200, r.text
        repo = f"{self.org}/{name}"
        if plan:
            r = self.setup.put(f"/api/models/{repo}/release-plan", json=PLAN)
            assert r.status_code == 200, r.text
        return repo

    def fmt(self, value: Any) -> Any:
        if isinstance(value, str):
            return value.format(n=next(_unique), **self.names)
        if isinstance(value, dict):
            return {k: self.fmt(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.fmt(v) for v in value]
        return value


Run = Callable[[Call], int]


@dataclasses.dataclass(frozen=True)
class Op:
    need: str
    method: str
    run: Run
    ok: frozenset[int] = frozenset({200})
    page: bool = False
    twin: bool = False  # runs on a disposable twin of the repository
    listing: bool = False  # observes whether the repository is listed
    git: bool = False  # git over HTTP: anonymous callers are asked for credentials
    own_credential: bool = False  # carries its own credential: the same answer for all


def req(method: str, path: str, **kw: Any) -> Run:
    """A request whose path and body are templates over the call's names."""

    def run(c: Call) -> int:
        return c.client.request(method, c.fmt(path), **c.fmt(kw)).status_code

    return run


def form(path: str, **fields: str) -> Run:
    """A page's form POST, with the caller's CSRF token."""

    def run(c: Call) -> int:
        data = {"csrf_token": c.csrf, **c.fmt(fields)}
        return c.client.post(c.fmt(path), data=data).status_code

    return run


def listed(method: str, path: str, **kw: Any) -> Run:
    """200 when the repository appears in the answer (a link on pages, an id in
    JSON), 404 when it does not."""

    def run(c: Call) -> int:
        r = c.client.request(method, c.fmt(path), **c.fmt(kw))
        assert r.status_code == 200, f"{path}: {r.status_code}"
        mark = f'href="/{c.repo}"' if "html" in r.headers["content-type"] else f'"{c.repo}"'
        return 200 if mark in r.text else 404

    return run


def disposable(method: str, path: str, *, plan: bool = False, **kw: Any) -> Run:
    """Run against a fresh twin of the repository ({fresh} in the templates)."""

    def run(c: Call) -> int:
        twin = c.fresh(plan=plan)
        c.names["fresh"], c.names["fresh_name"] = twin, twin.split("/", 1)[1]
        if method == "FORM":
            data = {"csrf_token": c.csrf, **c.fmt(kw)}
            return c.client.post(c.fmt(path), data=data).status_code
        return c.client.request(method, c.fmt(path), **c.fmt(kw)).status_code

    return run


def collection(method: str, suffix: str = "", *, item: bool = False, **kw: Any) -> Run:
    """On a fresh public collection of the organisation (made by its admin), with one
    item of its public repository when ``item`` ({item} in ``suffix``)."""

    def run(c: Call) -> int:
        made = c.setup.post("/api/collections", json={"title": "m", "namespace": c.org})
        assert made.status_code == 200, made.text
        slug, uid = made.json()["slug"], ""
        if item:
            body = {"item": {"id": f"{c.org}/public", "type": "model"}}
            added = c.setup.post(f"/api/collections/{slug}/items", json=body)
            assert added.status_code == 200, added.text
            uid = added.json()["items"][-1]["_id"]
        path = f"/api/collections/{slug}{suffix.format(item=uid)}"
        return c.client.request(method, path, **c.fmt(kw)).status_code

    return run


def _commit_body(c: Call) -> bytes:
    lines = [
        {"key": "header", "value": {"summary": "acl"}},
        {
            "key": "file",
            "value": {
                "path": f"acl/{next(_unique)}.txt",
                "encoding": "base64",
                "content": base64.b64encode(b"x").decode(),
            },
        },
    ]
    return "\n".join(json.dumps(x) for x in lines).encode()


def commit(c: Call) -> int:
    return c.client.post(f"/api/models/{c.repo}/commit/main", content=_commit_body(c)).status_code


def delete_branch(c: Call) -> int:
    branch = f"gone{next(_unique)}"
    assert c.setup.post(f"/api/models/{c.repo}/branch/{branch}").status_code == 200
    return c.client.delete(f"/api/models/{c.repo}/branch/{branch}").status_code


GIT_V2 = {"Git-Protocol": "version=2"}
LS_REFS = b"0014command=ls-refs\n00010000"


def git_push_tag(c: Call) -> int:
    """A push creating a tag at main (an empty pack): 200 only when it landed."""
    head = c.setup.get(f"/api/models/{c.repo}/revision/main").json()["sha"]
    empty = b"PACK" + (2).to_bytes(4, "big") + (0).to_bytes(4, "big")
    empty += hashlib.sha1(empty).digest()
    command = f"{'0' * 40} {head} refs/tags/g{next(_unique)}\0report-status\n".encode()
    body = f"{len(command) + 4:04x}".encode() + command + b"0000" + empty
    r = c.client.post(f"/{c.repo}/git-receive-pack", content=body)
    if r.status_code == 200:
        return 200 if b"ok refs/tags/" in r.content else 299
    return r.status_code


def keep_visibility(c: Call) -> int:
    return c.client.put(f"/api/models/{c.repo}/settings", json={"private": c.private}).status_code


def delete_tag(c: Call) -> int:
    tag = f"gone{next(_unique)}"
    r = c.setup.post(f"/api/models/{c.repo}/tag/main", json={"tag": tag})
    assert r.status_code == 200, r.text
    return c.client.delete(f"/api/models/{c.repo}/tag/{tag}").status_code


WEIGHTS = b"matrix weights\n"
WEIGHTS_OID = hashlib.sha256(WEIGHTS).hexdigest()
LFS_BODY = {"operation": "download", "objects": [{"oid": WEIGHTS_OID, "size": len(WEIGHTS)}]}
PLAN = {
    "stages": [
        {"name": "owners", "audience": "owners", "opens": {"files": ["staged/*"]}},
        {"name": "everyone", "audience": "public", "opens": {"files": ["staged/*"]}},
    ],
    "rationale": "the matrix plan",
}
PLAN_YAML = yaml.safe_dump({"stages": PLAN["stages"]})
XORB = "/cas/v1/xorbs/default/" + "0" * 64
CHUNK = "/cas/v1/chunks/default-merkledb/" + "0" * 64
RECON = "/cas/v1/reconstructions/" + "0" * 64
RECON2 = "/cas/v2/reconstructions/" + "0" * 64
X401 = frozenset({401})
M = "/api/models/{repo}"
P = "/{repo}"
ANY = frozenset({200, 409})  # passed the access check; the state decides the rest
FORM_ANY = frozenset({303, 409})

#: Operations on one repository.
REPO_OPS: dict[str, Op] = {
    # Reading
    "info": Op("read", "GET", req("GET", M)),
    "info-revision": Op("read", "GET", req("GET", M + "/revision/main")),
    "tree": Op("read", "GET", req("GET", M + "/tree/main")),
    "tree-path": Op("read", "GET", req("GET", M + "/tree/main/docs")),
    "paths-info": Op(
        "read", "POST", req("POST", M + "/paths-info/main", data={"paths": "README.md"})
    ),
    "refs": Op("read", "GET", req("GET", M + "/refs")),
    "commits": Op("read", "GET", req("GET", M + "/commits/main")),
    "likers": Op("read", "GET", req("GET", M + "/likers")),
    "lineage": Op("read", "GET", req("GET", M + "/lineage")),
    "release-plan": Op("read", "GET", req("GET", M + "/release-plan")),
    "signature": Op("read", "GET", req("GET", M + "/signature")),
    "sbom": Op("read", "GET", req("GET", M + "/sbom")),
    "resolve-open": Op("read", "GET", req("GET", P + "/resolve/main/LICENSE")),
    "resolve-head": Op("read", "HEAD", req("HEAD", P + "/resolve/main/LICENSE")),
    "raw-open": Op("read", "GET", req("GET", P + "/raw/main/LICENSE")),
    # Read tokens go to readers; what each file's reconstruction allows is checked
    # per file by the CAS (tests/test_xet_access.py).
    "xet-read-token": Op("read", "GET", req("GET", M + "/xet-read-token/main")),
    "listed-api": Op(
        "read", "GET", listed("GET", "/api/models", params={"author": "{org}"}), listing=True
    ),
    "listed-search": Op(
        "read", "GET", listed("GET", "/search", params={"q": "{repo}"}), page=True, listing=True
    ),
    "listed-models": Op(
        "read", "GET", listed("GET", "/models", params={"q": "{repo}"}), page=True, listing=True
    ),
    "listed-profile": Op("read", "GET", listed("GET", "/{org}"), page=True, listing=True),
    "listed-likes": Op("read", "GET", listed("GET", "/api/users/{liker}/likes"), listing=True),
    # Downloading a gated file: owners and members pass, others need an accepted request.
    "resolve-gated": Op("download", "GET", req("GET", P + "/resolve/main/weights.bin")),
    "auth-check": Op("download", "GET", req("GET", M + "/auth-check")),
    "lfs-download-batch": Op(
        "download", "POST", req("POST", P + ".git/info/lfs/objects/batch", json=LFS_BODY)
    ),
    # git: fetching needs what downloading every file of open revisions needs.
    "git-refs-fetch": Op(
        "download",
        "GET",
        req("GET", P + "/info/refs", params={"service": "git-upload-pack"}, headers=GIT_V2),
        git=True,
    ),
    "git-upload-pack": Op(
        "download",
        "POST",
        req("POST", P + ".git/git-upload-pack", content=LS_REFS, headers=GIT_V2),
        git=True,
    ),
    # Acting as oneself
    "unlike": Op("participate", "DELETE", req("DELETE", M + "/like")),
    "like": Op("participate", "POST", req("POST", M + "/like")),
    "approve": Op("participate", "POST", req("POST", M + "/release-plan/approve", json={}), ANY),
    # Writing
    "preupload": Op(
        "write",
        "POST",
        req("POST", M + "/preupload/main", json={"files": [{"path": "a", "size": 1}]}),
    ),
    "commit": Op("write", "POST", commit),
    # Passed the access check: the hub then refuses a signature that is not one (422).
    "signature-post": Op(
        "write", "POST", req("POST", M + "/signature", content=b"{}"), frozenset({422})
    ),
    "branch": Op("write", "POST", req("POST", M + "/branch/b{n}")),
    "branch-delete": Op("write", "DELETE", delete_branch),
    "tag": Op("write", "POST", req("POST", M + "/tag/main", json={"tag": "t{n}"})),
    "tag-delete": Op("write", "DELETE", delete_tag),
    # Anyone who may open a pull request may upload its files, if they may download
    # every file (the answers tell which objects the repository holds).
    "lfs-upload-batch": Op(
        "participate-download",
        "POST",
        req(
            "POST",
            P + ".git/info/lfs/objects/batch",
            json={"operation": "upload", "objects": [{"oid": "0" * 64, "size": 1}]},
        ),
    ),
    "git-refs-push": Op(
        "write",
        "GET",
        req("GET", P + ".git/info/refs", params={"service": "git-receive-pack"}),
        git=True,
    ),
    "git-receive-pack": Op("write", "POST", git_push_tag, git=True),
    "xet-write-token": Op("write", "GET", req("GET", M + "/xet-write-token/main")),
    "xet-write-token-default": Op("write", "GET", req("GET", M + "/xet-write-token")),
    "lfs-verify": Op(
        "participate-download",
        "POST",
        req(
            "POST",
            P + ".git/info/lfs/objects/verify",
            json={"oid": WEIGHTS_OID, "size": len(WEIGHTS)},
        ),
    ),
    "lfs-files": Op("write", "GET", req("GET", M + "/lfs-files")),
    "super-squash": Op(
        "write",
        "POST",
        disposable("POST", "/api/models/{fresh}/super-squash/main", json={"message": "sq"}),
        twin=True,
    ),
    # Administering
    "settings": Op("admin", "PUT", keep_visibility),
    # An object the repository does not hold: nothing is deleted, whoever asks.
    "lfs-files-delete": Op(
        "admin",
        "POST",
        req("POST", M + "/lfs-files/batch", json={"deletions": {"sha": ["0" * 64]}}),
    ),
    "audit-log": Op("admin", "GET", req("GET", M + "/audit-log")),
    "requests-pending": Op("admin", "GET", req("GET", M + "/user-access-request/pending")),
    "requests-handle": Op(
        "admin",
        "POST",
        req(
            "POST",
            M + "/user-access-request/handle",
            json={"user": "{requester}", "status": "pending"},
        ),
        ANY,  # pending already: deciding what is decided is refused (409), as on the Hub
    ),
    "requests-grant": Op(
        "admin",
        "POST",
        req("POST", M + "/user-access-request/grant", json={"user": "{grantee}"}),
        ANY,
    ),
    "plan-put": Op("admin", "PUT", req("PUT", M + "/release-plan", json=PLAN)),
    "plan-promote": Op(
        "admin", "POST", req("POST", M + "/release-plan/promote", json={"force": True}), ANY
    ),
    "plan-pause": Op("admin", "POST", req("POST", M + "/release-plan/pause", json={}), ANY),
    "plan-resume": Op("admin", "POST", req("POST", M + "/release-plan/resume", json={}), ANY),
    "plan-rollback": Op("admin", "POST", req("POST", M + "/release-plan/rollback", json={}), ANY),
    "plan-delete": Op(
        "admin",
        "DELETE",
        disposable("DELETE", "/api/models/{fresh}/release-plan", plan=True, json={}),
        twin=True,
    ),
    "move": Op(
        "admin",
        "POST",
        disposable("POST", "/api/repos/move", json={"fromRepo": "{fresh}", "toRepo": "{org}/m{n}"}),
        twin=True,
    ),
    "delete": Op(
        "admin",
        "DELETE",
        disposable(
            "DELETE", "/api/repos/delete", json={"name": "{fresh_name}", "organization": "{org}"}
        ),
        twin=True,
    ),
    # Pages
    "page-card": Op("read", "GET", req("GET", P), page=True),
    "page-tree": Op("read", "GET", req("GET", P + "/tree/main"), page=True),
    "page-tree-path": Op("read", "GET", req("GET", P + "/tree/main/docs"), page=True),
    "page-blob": Op("read", "GET", req("GET", P + "/blob/main/LICENSE"), page=True),
    "page-blob-gated": Op("download", "GET", req("GET", P + "/blob/main/weights.bin"), page=True),
    "page-commits": Op("read", "GET", req("GET", P + "/commits/main"), page=True),
    "page-commit": Op("read", "GET", req("GET", P + "/commit/main"), page=True),
    "page-switch": Op(
        "read", "GET", req("GET", P + "/switch", params={"rev": "main"}), frozenset({303}), True
    ),
    "page-access-form": Op("read", "GET", req("GET", P + "/access"), page=True),
    "page-access-request": Op("participate", "POST", form(P + "/access"), FORM_ANY, True),
    "page-like": Op("participate", "POST", form(P + "/like"), frozenset({303}), True),
    "page-approve": Op(
        "participate", "POST", form(P + "/release", action="approve"), FORM_ANY, True
    ),
    "page-upload": Op("write", "GET", req("GET", P + "/upload/main"), page=True),
    "page-edit-form": Op("write", "GET", req("GET", P + "/edit/main/README.md"), page=True),
    "page-edit": Op(
        "write",
        "POST",
        form(P + "/edit/main/README.md", content="# matrix {n}\n", summary="matrix"),
        frozenset({303}),
        True,
    ),
    "page-settings": Op("admin", "GET", req("GET", P + "/settings"), page=True),
    "page-visibility": Op(
        "admin",
        "POST",
        form(P + "/settings/visibility", visibility="{visibility}"),
        frozenset({303}),
        True,
    ),
    "page-gating": Op(
        "admin", "POST", form(P + "/settings/gating", gated="manual"), frozenset({303}), True
    ),
    "page-audit": Op("admin", "GET", req("GET", P + "/audit"), page=True),
    "page-plan-editor": Op("admin", "GET", req("GET", P + "/settings/release-plan"), page=True),
    "page-plan-save": Op(
        "admin",
        "POST",
        form(P + "/settings/release-plan", plan=PLAN_YAML, rationale="same plan", action="save"),
        frozenset({303}),
        True,
    ),
    "page-requests": Op("admin", "GET", req("GET", P + "/access-requests"), page=True),
    "page-requests-decide": Op(
        "admin",
        "POST",
        form(P + "/access-requests", user="{requester}", status="pending"),
        FORM_ANY,
        True,
    ),
    "page-release-pause": Op("admin", "POST", form(P + "/release", action="pause"), FORM_ANY, True),
    "page-move": Op(
        "admin",
        "POST",
        disposable("FORM", "/{fresh}/settings/move", to="{org}/pm{n}"),
        frozenset({303}),
        page=True,
        twin=True,
    ),
    "page-delete": Op(
        "admin",
        "POST",
        disposable("FORM", "/{fresh}/settings/delete", confirm="{fresh}"),
        frozenset({303}),
        page=True,
        twin=True,
    ),
}


def _discussion(c: Call) -> str:
    """Discussion #1 of the repository, opened by org_admin (once); its URL."""
    url = f"/api/models/{c.repo}/discussions/1"
    if c.setup.get(url).status_code == 404:
        r = c.setup.post(
            f"/api/models/{c.repo}/discussions", json={"title": "matrix", "description": "first"}
        )
        assert r.status_code == 200 and r.json()["num"] == 1, r.text
    return url


def discussion_op(tail: str, body: dict[str, Any] | None = None, comment: bool = False) -> Run:
    """A POST on discussion #1 (``{comment}``: a fresh comment of org_admin's)."""

    def run(c: Call) -> int:
        url = _discussion(c)
        path = tail
        if comment:
            r = c.setup.post(f"{url}/comment", json={"comment": "by the admin"})
            assert r.status_code == 200, r.text
            path = tail.format(comment=r.json()["newMessage"]["id"])
        return c.client.post(url + path, json=c.fmt(body) if body else None).status_code

    return run


def merge_fresh_pr(c: Call) -> int:
    """Merge a pull request opened (with a commit) for this call by org_admin."""
    r = c.setup.post(
        f"/api/models/{c.repo}/commit/main", params={"create_pr": "1"}, content=_commit_body(c)
    )
    assert r.status_code == 200, r.text
    num = r.json()["pullRequestUrl"].rsplit("/", 1)[1]
    return c.client.post(f"/api/models/{c.repo}/discussions/{num}/merge").status_code


def commit_pr(c: Call) -> int:
    return c.client.post(
        f"/api/models/{c.repo}/commit/main", params={"create_pr": "1"}, content=_commit_body(c)
    ).status_code


def page_discussion(c: Call) -> int:
    _discussion(c)
    return c.client.get(f"/{c.repo}/discussions/1").status_code


def discussion_form(tail: str, **fields: str) -> Run:
    def run(c: Call) -> int:
        _discussion(c)
        data = {"csrf_token": c.csrf, **c.fmt(fields)}
        return c.client.post(f"/{c.repo}/discussions/1{tail}", data=data).status_code

    return run


def merge_fresh_pr_page(c: Call) -> int:
    r = c.setup.post(
        f"/api/models/{c.repo}/commit/main", params={"create_pr": "1"}, content=_commit_body(c)
    )
    assert r.status_code == 200, r.text
    num = r.json()["pullRequestUrl"].rsplit("/", 1)[1]
    return c.client.post(
        f"/{c.repo}/discussions/{num}/merge", data={"csrf_token": c.csrf}
    ).status_code


def read_discussion(c: Call) -> int:
    _discussion(c)
    return c.client.get(f"/api/models/{c.repo}/discussions/1", params={"diff": "1"}).status_code


#: Discussions and pull requests: reading follows read access, taking part needs a
#: credential that may act, acting on others' comments and discussions needs write.
DISCUSSION_OPS: dict[str, Op] = {
    "discussions": Op("read", "GET", req("GET", M + "/discussions")),
    "discussion": Op("read", "GET", read_discussion),
    "discussion-create": Op(
        "participate", "POST", req("POST", M + "/discussions", json={"title": "t{n} here"})
    ),
    "discussion-comment": Op("participate", "POST", discussion_op("/comment", {"comment": "c{n}"})),
    "commit-create-pr": Op("participate", "POST", commit_pr),
    "discussion-edit-other": Op(
        "write", "POST", discussion_op("/comment/{comment}/edit", {"content": "e{n}"}, True)
    ),
    "discussion-hide-other": Op(
        "write", "POST", discussion_op("/comment/{comment}/hide", None, True)
    ),
    "discussion-rename-other": Op("write", "POST", discussion_op("/title", {"title": "r{n} t"})),
    "discussion-status-other": Op("write", "POST", discussion_op("/status", {"status": "open"})),
    "discussion-merge": Op("write", "POST", merge_fresh_pr),
    "page-discussions": Op("read", "GET", req("GET", P + "/discussions"), page=True),
    "page-discussion": Op("read", "GET", page_discussion, page=True),
    "page-discussion-new": Op("participate", "GET", req("GET", P + "/discussions/new"), page=True),
    "page-discussion-create": Op(
        "participate", "POST", form(P + "/discussions/new", title="p{n} t"), frozenset({303}), True
    ),
    "page-discussion-comment": Op(
        "participate", "POST", discussion_form("/comment", comment="c{n}"), frozenset({303}), True
    ),
    "page-discussion-status-other": Op(
        "write", "POST", discussion_form("/status", status="open"), frozenset({303}), True
    ),
    "page-discussion-merge": Op("write", "POST", merge_fresh_pr_page, frozenset({303}), True),
    "page-propose-form": Op(
        "participate", "GET", req("GET", P + "/propose/main/LICENSE"), page=True
    ),
    "page-propose": Op(
        "participate",
        "POST",
        form(P + "/propose/main/docs/p{n}.txt", content="x", summary="proposal"),
        frozenset({303}),
        True,
    ),
}


def account_form(path: str, **fields: str) -> Run:
    """An account settings form: 200 when it was saved (a redirect back to the account
    page), so that it cannot be mistaken for the sign-in redirect (303)."""

    def run(c: Call) -> int:
        r = c.client.post(c.fmt(path), data={"csrf_token": c.csrf, **c.fmt(fields)})
        saved = r.status_code == 303 and "/settings/account?done=" in r.headers["location"]
        return 200 if saved else r.status_code

    return run


def revoke_spare(c: Call) -> int:
    return c.client.post(
        "/settings/tokens/revoke", data={"csrf_token": c.csrf, "id": c.names["spare_token_id"]}
    ).status_code


#: Operations that are not about one repository; each actor runs them once.
#: Joining signs the client in as someone new, and logout ends the session, so
#: they come last.
GLOBAL_OPS: dict[str, Op] = {
    "health": Op("public", "GET", req("GET", "/api/health")),
    "openapi": Op("public", "GET", req("GET", "/api/openapi.json")),
    "validate-yaml": Op("public", "POST", req("POST", "/api/validate-yaml", json={"content": ""})),
    # The Xet CAS takes Xet tokens only (tests/test_xet_access.py has the rest): a hub
    # token, a session or nothing at all is refused alike.
    "cas-xorb": Op("public", "POST", req("POST", XORB, content=b"x"), X401, own_credential=True),
    "cas-shard": Op(
        "public", "POST", req("POST", "/cas/v1/shards", content=b"x"), X401, own_credential=True
    ),
    "cas-dedup": Op("public", "GET", req("GET", CHUNK), X401, own_credential=True),
    "cas-reconstruction": Op("public", "GET", req("GET", RECON), X401, own_credential=True),
    "cas-reconstruction-v2": Op("public", "GET", req("GET", RECON2), X401, own_credential=True),
    "cas-xorb-range-forged": Op(
        "public", "GET", req("GET", "/cas/xorb/forged"), frozenset({403}), own_credential=True
    ),
    # Signed LFS URLs are their own credential: a forged one fails for everyone,
    # a genuine one works for whoever holds it.
    "lfs-upload-forged": Op(
        "public", "PUT", req("PUT", "/lfs/upload/forged", content=b"x"), frozenset({403})
    ),
    "lfs-part-forged": Op(
        "public", "PUT", req("PUT", "/lfs/part/forged/1", content=b"x"), frozenset({403})
    ),
    "lfs-complete-forged": Op(
        "public", "POST", req("POST", "/lfs/complete/forged", json={}), frozenset({403})
    ),
    "lfs-download-signed": Op("public", "GET", req("GET", "{signed_download}")),
    "whoami": Op("user", "GET", req("GET", "/api/whoami-v2")),
    "signing-keys": Op("public", "GET", req("GET", "/api/signing-keys/{org}")),
    # Signed in: the key is then refused (400) or not found (404), for everyone.
    "signing-key-add": Op(
        "user", "POST", req("POST", "/api/signing-keys", json={"key": "x"}), frozenset({400})
    ),
    "signing-key-delete": Op(
        "user", "DELETE", req("DELETE", "/api/signing-keys/" + "0" * 64), frozenset({404})
    ),
    # Spaces: this hub hosts none, so every Space is missing, for anyone.
    "space-duplicate": Op(
        "public", "POST", req("POST", "/api/spaces/{org}/app/duplicate", json={}), frozenset({404})
    ),
    # Repository ids without a namespace: none exists, for anyone.
    "bare-info": Op("public", "GET", req("GET", "/api/models/nobody{n}"), frozenset({404})),
    "bare-revision": Op(
        "public", "GET", req("GET", "/api/models/nobody{n}/revision/main"), frozenset({404})
    ),
    "bare-commits": Op(
        "public", "GET", req("GET", "/api/models/nobody{n}/commits/main"), frozenset({404})
    ),
    "bare-unlike": Op(
        "public", "DELETE", req("DELETE", "/api/models/nobody{n}/like"), frozenset({404})
    ),
    "bare-resolve": Op(
        "public", "HEAD", req("HEAD", "/nobody{n}/resolve/main/file.txt"), frozenset({404})
    ),
    "create": Op(
        "ns-write",
        "POST",
        req("POST", "/api/repos/create", json={"name": "c{n}", "organization": "{org}"}),
    ),
    "namespace-audit-log": Op("ns-admin", "GET", req("GET", "/api/audit-log/{org}")),
    # Collections: public ones are for everyone to read; changing the organisation's
    # needs what creating a repository in it needs.
    "collections-list": Op(
        "public", "GET", req("GET", "/api/collections", params={"owner": "{org}"})
    ),
    "collection-get": Op("public", "GET", collection("GET")),
    "collection-create": Op(
        "ns-write",
        "POST",
        req("POST", "/api/collections", json={"title": "c{n}", "namespace": "{org}"}),
    ),
    "collection-update": Op("ns-write", "PATCH", collection("PATCH", json={"title": "t{n}"})),
    "collection-delete": Op("ns-write", "DELETE", collection("DELETE")),
    "collection-add-item": Op(
        "ns-write",
        "POST",
        collection("POST", "/items", json={"item": {"id": "{org}/public", "type": "model"}}),
    ),
    "collection-update-item": Op(
        "ns-write", "PATCH", collection("PATCH", "/items/{item}", item=True, json={"note": "n"})
    ),
    "collection-delete-item": Op(
        "ns-write", "DELETE", collection("DELETE", "/items/{item}", item=True)
    ),
    "page-home": Op("public", "GET", req("GET", "/"), page=True),
    "page-static": Op("public", "GET", req("GET", "/static/commons.css"), page=True),
    "page-datasets": Op("public", "GET", req("GET", "/datasets"), page=True),
    "page-login-form": Op("public", "GET", req("GET", "/login"), page=True),
    "page-tokens": Op("user", "GET", req("GET", "/settings/tokens"), page=True),
    "page-token-create": Op(
        "user", "POST", form("/settings/tokens", name="m", role="read"), page=True
    ),
    "page-token-revoke": Op("self", "POST", revoke_spare, frozenset({303}), True),
    "page-account": Op("user", "GET", req("GET", "/settings/account"), page=True),
    "page-keys": Op("user", "GET", req("GET", "/settings/keys"), page=True),
    # Signed in: the key is then refused (400) or not found (404), for everyone.
    "page-key-add": Op(
        "user", "POST", form("/settings/keys", key="not a key"), frozenset({400}), True
    ),
    "page-key-remove": Op(
        "user", "POST", form("/settings/keys/remove", fingerprint="0" * 64), frozenset({404}), True
    ),
    "page-notifications": Op("user", "GET", req("GET", "/notifications"), page=True),
    "page-notifications-read": Op(
        "user", "POST", form("/notifications/read"), frozenset({303}), True
    ),
    "page-account-email": Op(
        "user", "POST", account_form("/settings/account/email", email="m{n}@example.org"), page=True
    ),
    "page-account-fullname": Op(
        "user", "POST", account_form("/settings/account/fullname", fullname="M {n}"), page=True
    ),
    # The same password again: the change goes through, and later sign-ins still work.
    "page-account-password": Op(
        "user",
        "POST",
        account_form(
            "/settings/account/password",
            current_password=PASSWORD,
            new_password=PASSWORD,
            new_password_again=PASSWORD,
        ),
        page=True,
    ),
    "page-new-form": Op("user", "GET", req("GET", "/new"), page=True),
    "page-new": Op(
        "ns-write",
        "POST",
        form("/new", owner="{org}", name="n{n}", visibility="public"),
        frozenset({303}),
        True,
    ),
    "page-namespace-audit": Op("ns-admin", "GET", req("GET", "/{org}/-/audit"), page=True),
    "page-login-wrong": Op(
        "public",
        "POST",
        form("/login", username="{org}-nobody{n}", password="wrong"),
        frozenset({401}),
        True,
    ),
    "page-join-form": Op("public", "GET", req("GET", "/join"), page=True),
    "page-join": Op(
        "public",
        "POST",
        form("/join", username="{org}-j{n}", email="", password=PASSWORD),
        frozenset({303}),
        True,
    ),
    "page-logout": Op("public", "POST", form("/logout"), frozenset({303}), True),
}


#: 192.0.2.1 (TEST-NET-1) is not public: deliveries are refused at once, without DNS.
HOOK = {"url": "http://192.0.2.1/hook", "watched": [{"type": "user", "name": "{org}"}]}


def on_admins_webhook(method: str, tail: str = "", **kw: Any) -> Run:
    """A call on a webhook of org_admin's, made for this call."""

    def run(c: Call) -> int:
        r = c.setup.post("/api/settings/webhooks", json=c.fmt(HOOK))
        assert r.status_code == 200, r.text
        path = f"/api/settings/webhooks/{r.json()['webhook']['id']}{tail}"
        return c.client.request(method, path, **c.fmt(kw)).status_code

    return run


#: A user's webhooks: their own only, changed with a credential that may write.
WEBHOOK_OPS: dict[str, Op] = {
    "webhooks": Op("user", "GET", req("GET", "/api/settings/webhooks")),
    "webhook-create": Op("user-write", "POST", req("POST", "/api/settings/webhooks", json=HOOK)),
    "webhook-get": Op("self", "GET", on_admins_webhook("GET")),
    "webhook-update": Op(
        "self-write", "POST", on_admins_webhook("POST", json={"domains": ["repo"]})
    ),
    "webhook-enable": Op("self-write", "POST", on_admins_webhook("POST", "/enable")),
    "webhook-disable": Op("self-write", "POST", on_admins_webhook("POST", "/disable")),
    "webhook-delete": Op("self-write", "DELETE", on_admins_webhook("DELETE")),
}
GLOBAL_OPS = {**WEBHOOK_OPS, **GLOBAL_OPS}


def identity(actor: str, page: bool) -> Actor:
    """Who the actor is for this operation: on pages, tokens count for nothing."""
    a = ACTORS[actor]
    if page and a.bare_token:
        return ACTORS["anonymous"]
    return a


def expected(op: Op, actor: str, private: bool) -> frozenset[int]:
    if op.own_credential:
        return op.ok
    a = identity(actor, op.page)
    signed_in = a.credential != "none"
    if a.credential == "forged-session" and op.method not in SAFE:
        return frozenset({403})  # no proof the request came from our pages
    refused = frozenset({303 if op.page else 401})  # the anonymous caller
    if op.need == "public":
        return op.ok
    if op.need == "user":
        return op.ok if signed_in else refused
    if op.need == "self":
        if not signed_in:
            return refused
        return op.ok if a.person == "org_admin" else frozenset({404})
    if op.need in ("user-write", "self-write"):
        if not signed_in:
            return refused
        if op.need == "self-write" and a.person != "org_admin":
            return frozenset({404})  # someone else's webhook is not there
        # (a fine-grained token with only other permissions, elsewhere, may not write)
        may_write = LEVEL[a.cap] >= LEVEL["write"] and a.in_scope
        return op.ok if may_write else frozenset({403})
    if op.need == "ns-write":
        if not signed_in:
            return refused
        allowed = a.ns_role in CREATE_ROLES and LEVEL[a.cap] >= LEVEL["write"]
        return op.ok if allowed else frozenset({403})
    if op.need == "ns-admin":
        if not signed_in:
            return refused
        allowed = a.ns_role == "admin" and a.cap == "admin"
        return op.ok if allowed else frozenset({404})  # nothing there you may administer
    if op.page and not signed_in and op.need in ("participate", "write", "admin"):
        return refused  # pages ask for a sign-in before looking at the repository
    # A disposable twin is outside the scope of a token that names repositories.
    in_scope = a.in_scope and not (op.twin and a.repo_scoped)
    level = min(LEVEL[a.repo_role], LEVEL[a.cap]) if in_scope else 0
    if private and level < LEVEL["read"]:
        if op.git and not signed_in:
            return frozenset({401})  # as for a missing repository: git asks for credentials
        return frozenset({404})  # private means invisible
    if op.listing and private and a.repo_scoped:
        return frozenset({404})  # such a token opens the private repositories it names; lists none
    if op.need == "read":
        return op.ok
    if op.need == "download":
        if level >= LEVEL["read"]:
            return op.ok
        return frozenset({403 if signed_in else 401})
    if not signed_in:
        return frozenset({401})
    if op.need == "participate":
        allowed = LEVEL[a.cap] >= LEVEL["write"] and in_scope
        return op.ok if allowed else frozenset({403})
    if op.need == "participate-download":
        allowed = LEVEL[a.cap] >= LEVEL["write"] and in_scope and level >= LEVEL["read"]
        return op.ok if allowed else frozenset({403})
    return op.ok if level >= LEVEL[op.need] else frozenset({403})


@dataclasses.dataclass
class Matrix:
    server: Server
    org: str
    tokens: dict[str, str]  # person -> write token; plus the token-only actors
    spare_token_id: str
    signed_download: str
    seen: list[tuple[str, str]]

    def person(self, actor: str) -> str:
        person = ACTORS[actor].person
        assert person is not None
        return f"{self.org}-{person}".replace("_", "-")

    def login(self, actor: str) -> httpx.Client:
        client = self._client(cookies={"commons_csrf": CSRF})
        r = client.post(
            "/login",
            data={
                "csrf_token": CSRF,
                "username": self.person(actor),
                "password": PASSWORD,
                "next": "/",
            },
        )
        assert r.status_code == 303, r.text
        return client

    def _client(self, **kw: Any) -> httpx.Client:
        def record(request: httpx.Request) -> None:
            self.seen.append((request.method, request.url.raw_path.decode().split("?", 1)[0]))

        return httpx.Client(base_url=self.server.url, event_hooks={"request": [record]}, **kw)

    def clients(self, actor: str) -> tuple[httpx.Client, httpx.Client, str]:
        """(API client, page client, CSRF value its forms send)."""
        a = ACTORS[actor]
        if a.credential == "none":
            c = self._client(cookies={"commons_csrf": CSRF})
            return c, c, CSRF
        if a.credential in ("session", "forged-session"):
            c = self.login(actor)
            forged = a.credential == "forged-session"
            if not forged:
                c.headers["X-CSRF-Token"] = CSRF
            return c, c, "forged" if forged else CSRF
        headers = {"Authorization": f"Bearer {self.tokens[actor]}"}
        api = self._client(headers=headers)
        if a.bare_token:  # also sent to pages, where it counts for nothing
            return api, self._client(headers=headers, cookies={"commons_csrf": CSRF}), CSRF
        return api, self.login(actor), CSRF


def _person_names(org: str) -> dict[str, str]:
    return {p: f"{org}-{p}".replace("_", "-") for p in PEOPLE}


@pytest.fixture(scope="module")
def matrix(server: Server) -> Iterator[Matrix]:
    org = f"acl{next(_unique)}x{server.port}"
    names = _person_names(org)
    tokens: dict[str, str] = {}
    for person, name in names.items():
        out = server.cli("user", "create", name, "--token", "write", input=f"{PASSWORD}\n")
        tokens[person] = out.stdout.split()[-1]
    for extra in ("fan", "grantee"):
        server.cli("user", "create", f"{org}-{extra}", input=f"{PASSWORD}\n")
    members = {"org_read": "read", "creator": "contributor", "org_write": "write"}
    member_args = [f"--member={names[p]}:{role}" for p, role in members.items()]
    server.cli(
        "org",
        "create",
        org,
        *member_args,
        f"--member={names['org_admin']}:admin",
        f"--member={org}-fan:read",
    )
    fan = server.cli("token", "create", f"{org}-fan", "--write").stdout.split()[-1]
    admin = names["org_admin"]
    tokens["contributor"] = tokens["creator"]
    tokens["admin_readonly_token"] = server.cli("token", "create", admin).stdout.split()[-1]

    def fine(name: str, *args: str) -> str:
        return server.cli("token", "create", admin, "--name", name, *args).stdout.split()[-1]

    scope = [f"--scope=model:{org}/{r}" for r in ("public", "private", "others")]
    tokens["fine_read"] = fine("fr", *scope, "--permission=read")
    tokens["fine_write"] = fine("fw", *scope, "--permission=read", "--permission=write")
    tokens["fine_elsewhere"] = fine("fe", f"--scope=model:{org}/nowhere", "--permission=admin")
    fine("spare")  # the token that the "self" operation revokes

    setup = httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {tokens['org_admin']}"}
    )
    signed = ""
    for name, private in (("public", False), ("private", True), ("others", True)):
        creator = tokens["org_admin" if name == "others" else "creator"]
        r = setup.post(
            "/api/repos/create",
            json={"name": name, "organization": org, "private": private},
            headers={"Authorization": f"Bearer {creator}"},
        )
        assert r.status_code == 200, r.text
        repo = f"{org}/{name}"
        hf = HfApi(endpoint=server.url, token=tokens["org_admin"])
        hf.upload_file(path_or_fileobj=WEIGHTS, path_in_repo="weights.bin", repo_id=repo)
        hf.upload_file(path_or_fileobj=b"notes\n", path_in_repo="docs/notes.txt", repo_id=repo)
        # A licence: open to whoever sees a gated repository (.gitattributes is gated).
        hf.upload_file(path_or_fileobj=b"licence\n", path_in_repo="LICENSE", repo_id=repo)
        assert setup.put(f"/api/models/{repo}/settings", json={"gated": "manual"}).is_success
        assert setup.put(f"/api/models/{repo}/release-plan", json=PLAN).is_success
        # A member asks for access, so that decisions have a request to decide on;
        # a member likes it, so that their likes list has the repository in it.
        asker = httpx.Client(base_url=server.url, cookies={"commons_csrf": CSRF})
        login = {"csrf_token": CSRF, "username": names["org_read"], "password": PASSWORD}
        assert asker.post("/login", data=login).status_code == 303
        assert asker.post(f"/{repo}/access", data={"csrf_token": CSRF}).status_code == 303
        like = setup.post(f"/api/models/{repo}/like", headers={"Authorization": f"Bearer {fan}"})
        assert like.status_code == 200, like.text
        if not signed:
            batch = setup.post(f"/{repo}.git/info/lfs/objects/batch", json=LFS_BODY).json()
            signed = batch["objects"][0]["actions"]["download"]["href"]
    page = httpx.Client(base_url=server.url, cookies={"commons_csrf": CSRF})
    login = {"csrf_token": CSRF, "username": admin, "password": PASSWORD}
    assert page.post("/login", data=login).status_code == 303
    listing = page.get("/settings/tokens").text
    spare_id = listing.split('name="id" value="', 1)[1].split('"', 1)[0]
    yield Matrix(server, org, tokens, spare_id, signed.removeprefix(server.url), [])
    setup.close()


def _names(m: Matrix, repo: str, private: bool) -> dict[str, str]:
    return {
        "org": m.org,
        "repo": repo,
        "name": repo.split("/", 1)[1],
        "visibility": "private" if private else "public",
        "liker": f"{m.org}-fan",
        "requester": f"{m.org}-org-read",
        "grantee": f"{m.org}-grantee",
        "spare_token_id": m.spare_token_id,
        "signed_download": m.signed_download,
    }


def _targets(actor: str) -> list[tuple[str, bool]]:
    if actor == "contributor":
        return [("others", True)]
    return [("public", False), ("private", True)]


def walk(m: Matrix) -> list[str]:
    """Every actor runs every operation; returns the answers that broke the rules."""
    failures = []
    setup = httpx.Client(
        base_url=m.server.url, headers={"Authorization": f"Bearer {m.tokens['org_admin']}"}
    )
    for actor in ACTORS:
        api, page, csrf = m.clients(actor)
        creator = m.tokens["org_admin" if actor == "contributor" else "creator"]
        targets = _targets(actor)
        # Repository operations on each target; the others once, on the last one.
        runs = [(t, REPO_OPS | DISCUSSION_OPS) for t in targets] + [(targets[-1], GLOBAL_OPS)]
        for (name, private), ops in runs:
            repo = f"{m.org}/{name}"
            where = f" on {name}" if ops is not GLOBAL_OPS else ""
            for label, op in ops.items():
                client = page if op.page else api
                names = _names(m, repo, private)
                got = op.run(Call(client, setup, m.org, repo, private, creator, csrf, names))
                want = expected(op, actor, private)
                if got not in want:
                    failures.append(f"{actor} {label}{where}: {got}, expected {sorted(want)}")
    setup.close()
    return failures


def test_every_route_every_caller(matrix: Matrix) -> None:
    failures = walk(matrix)
    assert failures == [], "\n".join(failures)
    # The matrix reached every route the application has.
    router = build_router()
    reached: set[int] = set()
    for method, path in matrix.seen:
        found = router.match(method, path)
        if isinstance(found, tuple):
            reached.add(id(found[0]))
    missing = [
        f"{sorted(r.methods)} {r.pattern.pattern}" for r in router.routes if id(r) not in reached
    ]
    assert missing == [], "routes the matrix never calls:\n" + "\n".join(missing)


def test_contributors_create_but_do_not_administer(matrix: Matrix) -> None:
    server, org = matrix.server, matrix.org
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {matrix.tokens['creator']}"}
    ) as c:
        assert (
            c.post("/api/repos/create", json={"name": "mine", "organization": org}).status_code
            == 200
        )
        assert c.put(f"/api/models/{org}/mine/settings", json={"private": True}).status_code == 403


def test_fine_grained_tokens_are_confined(matrix: Matrix) -> None:
    server, org = matrix.server, matrix.org
    fine = {"Authorization": f"Bearer {matrix.tokens['fine_write']}"}
    me = httpx.get(f"{server.url}/api/whoami-v2", headers=fine).json()
    assert me["auth"]["accessToken"]["role"] == "fineGrained"
    assert f"model:{org}/public" in me["auth"]["accessToken"]["fineGrained"]["scoped"]
    listed = httpx.get(f"{server.url}/api/models", params={"author": org}, headers=fine).json()
    # It opens the private repositories it names, but lists only public ones.
    ids = {m["id"] for m in listed}
    assert f"{org}/public" in ids and not ids & {f"{org}/private", f"{org}/others"}
    assert httpx.get(f"{server.url}/api/models/{org}/private", headers=fine).status_code == 200
    elsewhere = {"Authorization": f"Bearer {matrix.tokens['fine_elsewhere']}"}
    assert httpx.get(f"{server.url}/api/models/{org}/private", headers=elsewhere).status_code == 404
    bad = server.cli("token", "create", "stranger-x", "--scope", "everything", check=False)
    assert bad.returncode == 1
