"""Every endpoint against every role and visibility, from an independent table.

The expectations below are written from the rules, not from access.py: each
actor has a role over the repositories (None, read, write, admin) and a token
that caps what it may do; an operation needs read, write or admin.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
from collections.abc import Callable

import httpx
import pytest

from .conftest import Server

LEVEL = {None: 0, "read": 1, "write": 2, "admin": 3}
_unique = itertools.count()

# actor -> (role over the org's repositories, what its token may do at most)
ACTORS: dict[str, tuple[str | None, str]] = {
    "anonymous": (None, "admin"),
    "stranger": (None, "admin"),
    "org_read": ("read", "admin"),
    "creator": ("write", "admin"),  # a contributor, on repositories they created
    "contributor": ("read", "admin"),  # a contributor, on someone else's
    "org_write": ("write", "admin"),
    "org_admin": ("admin", "admin"),
    "admin_readonly_token": ("admin", "read"),
    "fine_read": ("admin", "read"),  # fine-grained, scoped to the repository
    "fine_write": ("admin", "write"),
    "fine_elsewhere": (None, "admin"),  # fine-grained, scoped to another repository
}


def _commit_body() -> bytes:
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


def _lfs(operation: str) -> dict[str, object]:
    data = f"lfs-{operation}".encode()
    return {
        "operation": operation,
        "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}],
    }


Op = Callable[[httpx.Client, str, bool], httpx.Response]

OPERATIONS: dict[str, tuple[str, Op]] = {
    "info": ("read", lambda c, r, p: c.get(f"/api/models/{r}")),
    "tree": ("read", lambda c, r, p: c.get(f"/api/models/{r}/tree/main")),
    "paths-info": (
        "read",
        lambda c, r, p: c.post(f"/api/models/{r}/paths-info/main", data={"paths": "README.md"}),
    ),
    "refs": ("read", lambda c, r, p: c.get(f"/api/models/{r}/refs")),
    "commits": ("read", lambda c, r, p: c.get(f"/api/models/{r}/commits/main")),
    "resolve": ("read", lambda c, r, p: c.get(f"/{r}/resolve/main/.gitattributes")),
    "resolve-head": ("read", lambda c, r, p: c.head(f"/{r}/resolve/main/.gitattributes")),
    "auth-check": ("read", lambda c, r, p: c.get(f"/api/models/{r}/auth-check")),
    "likers": ("read", lambda c, r, p: c.get(f"/api/models/{r}/likers")),
    "lineage": ("read", lambda c, r, p: c.get(f"/api/models/{r}/lineage")),
    "preupload": (
        "write",
        lambda c, r, p: c.post(
            f"/api/models/{r}/preupload/main", json={"files": [{"path": "a", "size": 1}]}
        ),
    ),
    "commit": (
        "write",
        lambda c, r, p: c.post(f"/api/models/{r}/commit/main", content=_commit_body()),
    ),
    "branch": ("write", lambda c, r, p: c.post(f"/api/models/{r}/branch/b{next(_unique)}")),
    "tag": (
        "write",
        lambda c, r, p: c.post(f"/api/models/{r}/tag/main", json={"tag": f"t{next(_unique)}"}),
    ),
    "lfs-upload": (
        "write",
        lambda c, r, p: c.post(f"/{r}.git/info/lfs/objects/batch", json=_lfs("upload")),
    ),
    "settings": ("admin", lambda c, r, p: c.put(f"/api/models/{r}/settings", json={"private": p})),
    "audit-log": ("admin", lambda c, r, p: c.get(f"/api/models/{r}/audit-log")),
    "access-requests": (
        "admin",
        lambda c, r, p: c.get(f"/api/models/{r}/user-access-request/pending"),
    ),
}


def expected(actor: str, need: str, private: bool) -> int:
    role, cap = ACTORS[actor]
    level = min(LEVEL[role], LEVEL[cap])
    if private and level < LEVEL["read"]:
        return 404  # private means invisible
    if level >= LEVEL[need] or need == "read":
        return 200
    return 401 if actor == "anonymous" else 403


@pytest.fixture()
def acl(server: Server) -> tuple[Server, dict[str, str | None]]:
    org = f"acl{next(_unique)}x{server.port}"
    people = ["stranger", "org_read", "creator", "org_write", "org_admin"]
    tokens: dict[str, str | None] = {"anonymous": None}
    for actor in people:
        tokens[actor] = server.user(f"{org}-{actor}".replace("_", "-"))
    tokens["contributor"] = tokens["creator"]
    server.cli(
        "org",
        "create",
        org,
        "--member",
        f"{org}-org-read:read",
        "--member",
        f"{org}-creator:contributor",
        "--member",
        f"{org}-org-write:write",
        "--member",
        f"{org}-org-admin:admin",
    )
    admin = f"{org}-org-admin"
    with httpx.Client(base_url=server.url) as c:
        for name, private in (("public", False), ("private", True), ("others", True)):
            creator = tokens["org_admin" if name == "others" else "creator"]
            r = c.post(
                "/api/repos/create",
                json={"name": name, "organization": org, "private": private},
                headers={"Authorization": f"Bearer {creator}"},
            )
            assert r.status_code == 200, r.text
    # The "contributor" actor is the creator, looking at a repository it did not create.
    tokens["admin_readonly_token"] = server.user(admin, write=False)

    def fine(name: str, *args: str) -> str:
        out = server.cli("token", "create", admin, "--name", name, *args)
        return out.stdout.strip().splitlines()[-1]

    scope = [
        f"--scope=model:{org}/public",
        f"--scope=model:{org}/private",
        f"--scope=model:{org}/others",
    ]
    tokens["fine_read"] = fine("fr", *scope, "--permission=read")
    tokens["fine_write"] = fine("fw", *scope, "--permission=read", "--permission=write")
    tokens["fine_elsewhere"] = fine("fe", f"--scope=model:{org}/nowhere", "--permission=admin")
    return server, {**tokens, "_org": org}


def test_every_endpoint_every_role(acl: tuple[Server, dict[str, str | None]]) -> None:
    server, tokens = acl
    org = tokens["_org"]
    failures = []
    for actor in ACTORS:
        headers = {"Accept": "application/json"}
        if tokens[actor]:
            headers["Authorization"] = f"Bearer {tokens[actor]}"
        with httpx.Client(base_url=server.url, headers=headers) as client:
            for repo_name, private in (("public", False), ("private", True), ("others", True)):
                if actor != "contributor" and repo_name == "others":
                    continue
                if actor == "contributor" and repo_name != "others":
                    continue
                repo = f"{org}/{repo_name}"
                for op, (need, call) in OPERATIONS.items():
                    want = expected(actor, need, private)
                    got = call(client, repo, private).status_code
                    if got != want:
                        failures.append(f"{actor} {op} on {repo_name}: {got}, expected {want}")
    assert failures == [], "\n".join(failures)


def test_contributors_create_but_do_not_administer(
    acl: tuple[Server, dict[str, str | None]],
) -> None:
    server, tokens = acl
    org = tokens["_org"]
    with httpx.Client(
        base_url=server.url, headers={"Authorization": f"Bearer {tokens['creator']}"}
    ) as c:
        assert (
            c.post("/api/repos/create", json={"name": "mine", "organization": org}).status_code
            == 200
        )
        assert c.put(f"/api/models/{org}/mine/settings", json={"private": True}).status_code == 403
    reader = {"Authorization": f"Bearer {tokens['org_read']}"}
    assert (
        httpx.post(
            f"{server.url}/api/repos/create",
            headers=reader,
            json={"name": "nope", "organization": org},
        ).status_code
        == 403
    )


def test_fine_grained_tokens_are_confined(acl: tuple[Server, dict[str, str | None]]) -> None:
    server, tokens = acl
    org = tokens["_org"]
    fine = {"Authorization": f"Bearer {tokens['fine_write']}"}
    me = httpx.get(f"{server.url}/api/whoami-v2", headers=fine).json()
    assert me["auth"]["accessToken"]["role"] == "fineGrained"
    assert f"model:{org}/public" in me["auth"]["accessToken"]["fineGrained"]["scoped"]
    # It cannot create repositories, nor see the private ones it was not given.
    assert (
        httpx.post(
            f"{server.url}/api/repos/create", headers=fine, json={"name": "x", "organization": org}
        ).status_code
        == 403
    )
    listed = httpx.get(f"{server.url}/api/models", params={"author": org}, headers=fine).json()
    assert {m["id"] for m in listed} == {f"{org}/public"}
    bad = server.cli("token", "create", "stranger-x", "--scope", "everything", check=False)
    assert bad.returncode == 1
