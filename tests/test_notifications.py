"""Notifications: what changed on discussions a user owns or took part in since they
last looked, and access requests waiting for their decision."""

from __future__ import annotations

import httpx
from huggingface_hub import HfApi

from .conftest import Server

CSRF = "notifications-csrf-token-at-least-32-chars"
PASSWORD = "a long enough password"


def browser_of(server: Server, name: str) -> httpx.Client:
    server.user(name)
    server.cli("user", "set-password", name, input=f"{PASSWORD}\n")
    client = httpx.Client(base_url=server.url, cookies={"commons_csrf": CSRF})
    r = client.post("/login", data={"csrf_token": CSRF, "username": name, "password": PASSWORD})
    assert r.status_code == 303, r.text
    return client


def test_changed_discussions_and_waiting_requests(server: Server, repo_name: str) -> None:
    owner = HfApi(endpoint=server.url, token=server.user("nora"))
    guest = HfApi(endpoint=server.url, token=server.user("gus"))
    repo = f"nora/{repo_name}"
    owner.create_repo(repo)
    nora, gus = browser_of(server, "nora"), browser_of(server, "gus")

    guest.create_discussion(repo, title=f"Question on {repo_name}", description="hi")
    page = nora.get("/notifications").text
    assert f"{repo} #1: Question on {repo_name}" in page  # on her repository
    assert f"Question on {repo_name}" not in gus.get("/notifications").text  # his own change

    # Looking at it clears it; a new comment by someone else brings it back.
    assert nora.get(f"/{repo}/discussions/1").status_code == 200
    assert f"Question on {repo_name}" not in nora.get("/notifications").text
    owner.comment_discussion(repo, 1, "Answer")
    assert f"Question on {repo_name}" in gus.get("/notifications").text  # he took part
    assert f"Question on {repo_name}" not in nora.get("/notifications").text  # hers

    # Mark all as read.
    r = gus.post("/notifications/read", data={"csrf_token": CSRF})
    assert r.status_code == 303
    assert f"Question on {repo_name}" not in gus.get("/notifications").text
    # A stranger sees nothing of it.
    stranger = browser_of(server, "stan")
    assert f"Question on {repo_name}" not in stranger.get("/notifications").text

    # An access request to a gated repository waits for the owner's decision.
    r = httpx.put(
        f"{server.url}/api/models/{repo}/settings",
        json={"gated": "manual"},
        headers={"Authorization": f"Bearer {server.user('nora')}"},
    )
    assert r.status_code == 200
    assert gus.post(f"/{repo}/access", data={"csrf_token": CSRF}).status_code == 303
    page = nora.get("/notifications").text
    assert f"{repo}</a>: 1 waiting" in page and "gus" in page
    assert f"{repo}</a>" not in gus.get("/notifications").text
    anonymous = httpx.get(f"{server.url}/notifications")
    assert anonymous.status_code == 303 and "/login" in anonymous.headers["location"]
