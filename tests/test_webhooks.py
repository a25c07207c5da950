"""Webhooks through the real huggingface_hub client, delivered to a real receiver."""

from __future__ import annotations

import hashlib
import hmac
import http.server
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from huggingface_hub import HfApi
from huggingface_hub.errors import HfHubHTTPError
from sqlalchemy import select

from modelcommons.db.community_tables import Webhook, WebhookDelivery
from modelcommons.hub import Hub
from modelcommons.settings import Settings

from .conftest import Server


class Receiver:
    """An HTTP server on 127.0.0.1 that records what it is sent; it answers 500 to
    the first ``fail`` requests."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.fail = 0
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if receiver.fail > 0:
                    receiver.fail -= 1
                    self.send_response(500)
                else:
                    receiver.requests.append((dict(self.headers), body))
                    self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait(self, count: int, seconds: float = 60) -> list[tuple[dict[str, str], bytes]]:
        deadline = time.monotonic() + seconds
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.1)
        return self.requests


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def hooked(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A hub that may deliver to 127.0.0.0/8, retrying every second."""
    srv = Server(
        request.param,
        webhook_allowed_networks="127.0.0.0/8",
        webhook_retry_seconds=1,
        webhook_max_attempts=3,
    )
    srv.start()
    yield srv
    srv.close()


@pytest.fixture()
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()


def deliveries(server: Server) -> list[WebhookDelivery]:
    hub = Hub(Settings(data_dir=server.data_dir, database_url=server.pg.url if server.pg else None))
    try:
        with hub.db.read() as session:
            return list(session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))
    finally:
        hub.close()


def stored_secret(server: Server, webhook_id: str) -> str | None:
    hub = Hub(Settings(data_dir=server.data_dir, database_url=server.pg.url if server.pg else None))
    try:
        with hub.db.read() as session:
            row = session.get(Webhook, webhook_id)
            assert row is not None
            return row.secret
    finally:
        hub.close()


def test_webhook_crud_through_the_client(hooked: Server, receiver: Receiver) -> None:
    api = HfApi(endpoint=hooked.url, token=hooked.user("wanda"))
    hook = api.create_webhook(
        url=receiver.url, watched=[{"type": "user", "name": "wanda"}], secret="s3cret"
    )
    assert hook.url == receiver.url and hook.secret == "s3cret" and not hook.disabled
    stored = stored_secret(hooked, hook.id)  # sent with every delivery: encrypted, not plain
    assert stored and "s3cret" not in stored
    assert hook.domains == ["repo", "discussion"]
    assert [h.id for h in api.list_webhooks()] == [hook.id]
    assert api.get_webhook(hook.id).watched[0].name == "wanda"
    updated = api.update_webhook(
        hook.id,
        url=receiver.url + "?v=2",
        watched=[{"type": "model", "name": "wanda/x"}],
        domains=["discussion"],
    )
    assert updated.domains == ["discussion"] and updated.url.endswith("?v=2")
    assert api.disable_webhook(hook.id).disabled
    assert not api.enable_webhook(hook.id).disabled
    # Another user's webhook is not there for them.
    other = HfApi(endpoint=hooked.url, token=hooked.user("walter"))
    with pytest.raises(HfHubHTTPError) as missing:
        other.get_webhook(hook.id)
    assert missing.value.response.status_code == 404
    with pytest.raises(HfHubHTTPError) as bad:
        api.create_webhook(url="file:///etc/passwd", watched=[{"type": "user", "name": "x"}])
    assert bad.value.response.status_code == 400
    api.delete_webhook(hook.id)
    assert api.list_webhooks() == []


def test_events_are_signed_delivered_and_retried(
    hooked: Server, receiver: Receiver, repo_name: str
) -> None:
    api = HfApi(endpoint=hooked.url, token=hooked.user("wanda"))
    repo = f"wanda/{repo_name}"
    api.create_repo(repo)
    hook = api.create_webhook(
        url=receiver.url, watched=[{"type": "model", "name": repo}], secret="s3cret"
    )
    receiver.fail = 2  # the first two attempts fail: the third gets through
    info = api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
    [(headers, body)] = receiver.wait(1)
    payload = json.loads(body)
    assert payload["event"] == {"action": "update", "scope": "repo.content"}
    assert payload["repo"]["name"] == repo and payload["repo"]["headSha"] == info.oid
    assert payload["webhook"]["id"] == hook.id
    lower = {k.lower(): v for k, v in headers.items()}
    assert lower["x-webhook-secret"] == "s3cret"
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert lower["x-webhook-signature"] == f"sha256={expected}"
    # The receiver has it; the hub records the outcome once the answer is back.
    deadline = time.monotonic() + 60
    row = [d for d in deliveries(hooked) if d.webhook_id == hook.id]
    while any(d.status == "pending" for d in row) and time.monotonic() < deadline:
        time.sleep(0.1)
        row = [d for d in deliveries(hooked) if d.webhook_id == hook.id]
    assert [(d.status, d.attempts) for d in row] == [("done", 3)]

    # Discussions: a new discussion and a comment.
    d = HfApi(endpoint=hooked.url, token=hooked.user("walter")).create_discussion(
        repo, title="Hello there", description="first words"
    )
    got = receiver.wait(3)
    scopes = sorted(json.loads(b)["event"]["scope"] for _, b in got[1:])
    assert scopes == ["discussion", "discussion.comment"]
    comment = next(json.loads(b) for _, b in got[1:] if b"discussion.comment" in b)
    assert comment["comment"]["content"] == "first words"
    assert comment["discussion"]["num"] == d.num

    # A disabled webhook receives nothing.
    api.disable_webhook(hook.id)
    api.upload_file(path_or_fileobj=b"y", path_in_repo="y.txt", repo_id=repo)
    api.enable_webhook(hook.id)
    api.upload_file(path_or_fileobj=b"z", path_in_repo="z.txt", repo_id=repo)
    got = receiver.wait(4)
    assert len(got) == 4 and json.loads(got[3][1])["repo"]["headSha"] == api.model_info(repo).sha


def test_private_repositories_reach_only_those_who_can_read_them(
    hooked: Server, receiver: Receiver, repo_name: str
) -> None:
    owner = HfApi(endpoint=hooked.url, token=hooked.user("wanda"))
    snoop = HfApi(endpoint=hooked.url, token=hooked.user("walter"))
    hook = snoop.create_webhook(url=receiver.url, watched=[{"type": "user", "name": "wanda"}])
    repo = f"wanda/{repo_name}"
    owner.create_repo(repo, private=True)
    owner.upload_file(path_or_fileobj=b"secret", path_in_repo="s.txt", repo_id=repo)
    mine = owner.create_webhook(url=receiver.url, watched=[{"type": "model", "name": repo}])
    owner.upload_file(path_or_fileobj=b"more", path_in_repo="t.txt", repo_id=repo)
    got = receiver.wait(1)
    assert len(got) == 1 and json.loads(got[0][1])["webhook"]["id"] == mine.id
    assert not [d for d in deliveries(hooked) if d.webhook_id == hook.id]


def test_private_addresses_are_refused_at_delivery(receiver: Receiver, repo_name: str) -> None:
    srv = Server("sqlite", webhook_retry_seconds=1, webhook_max_attempts=2)
    srv.start()
    try:
        api = HfApi(endpoint=srv.url, token=srv.user("wanda"))
        repo = f"wanda/{repo_name}"
        api.create_repo(repo)
        for url in (receiver.url, "http://169.254.169.254/latest/meta-data/"):
            api.create_webhook(url=url, watched=[{"type": "model", "name": repo}])
        api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo)
        deadline = time.monotonic() + 60
        rows = deliveries(srv)
        while (not rows or any(r.status == "pending" for r in rows)) and (
            time.monotonic() < deadline
        ):
            time.sleep(0.2)
            rows = deliveries(srv)
        assert [r.status for r in rows] == ["failed", "failed"]
        assert all("not a public address" in (r.last_error or "") for r in rows)
        assert [r.attempts for r in rows] == [1, 1]  # refused, never retried
        assert receiver.requests == []
    finally:
        srv.close()
