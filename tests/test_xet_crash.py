"""SIGKILL during Xet uploads: nothing corrupt, nothing half-registered, and the
upload retried after a restart succeeds."""

from __future__ import annotations

import hashlib
import http.client
import time

import httpx
from huggingface_hub import HfApi

from . import xet_wire
from .conftest import Server


def _half_sent(srv: Server, path: str, auth: str, body: bytes) -> http.client.HTTPConnection:
    """A request whose body stops half-way, held open until the server has some of it."""
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    conn.putrequest("POST", path)
    conn.putheader("Authorization", auth)
    conn.putheader("Content-Length", str(len(body)))
    conn.endheaders(body[: len(body) // 2])
    staging = srv.data_dir / "blobs" / "staging"
    for _ in range(300):
        if any(p.stat().st_size > 0 for p in staging.iterdir()):
            break
        time.sleep(0.05)
    return conn


def test_killed_uploads_leave_nothing_registered_and_retry(repo_name: str) -> None:
    srv = Server("sqlite")
    srv.start()
    try:
        alice = srv.user("alice")
        repo = f"alice/{repo_name}"
        HfApi(endpoint=srv.url, token=alice).create_repo(repo)
        r = httpx.get(
            f"{srv.url}/api/models/{repo}/xet-write-token/main",
            headers={"Authorization": f"Bearer {alice}"},
        )
        auth = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        chunks = [hashlib.sha256(str(i).encode()).digest() * 2000 for i in range(120)]
        name, body = xet_wire.xorb(chunks)
        objects = srv.data_dir / "blobs" / "objects"
        before = sorted(p.name for p in objects.rglob("*") if p.is_file())

        conn = _half_sent(srv, f"/cas/v1/xorbs/default/{name}", auth["Authorization"], body)
        srv.kill()
        conn.close()
        assert sorted(p.name for p in objects.rglob("*") if p.is_file()) == before
        srv.start()
        r = httpx.post(f"{srv.url}/cas/v1/xorbs/default/{name}", content=body, headers=auth)
        assert r.json() == {"was_inserted": True}  # nothing was registered before

        shard = xet_wire.shard([(chunks, "", [(name, 0, len(chunks))])])
        conn = _half_sent(srv, "/cas/v1/shards", auth["Authorization"], shard)
        srv.kill()
        conn.close()
        srv.start()
        file_id = xet_wire.file_id(chunks)
        r = httpx.get(f"{srv.url}/cas/v1/reconstructions/{file_id}", headers=auth)
        assert r.status_code == 404  # the killed shard registered nothing
        r = httpx.post(f"{srv.url}/cas/v1/shards", content=shard, headers=auth)
        assert r.status_code == 200
        data = b"".join(chunks)
        lines = (
            '{"key": "header", "value": {"summary": "after a crash"}}\n'
            '{"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", '
            f'"oid": "{hashlib.sha256(data).hexdigest()}", "size": {len(data)}}}}}\n'
        )
        r = httpx.post(
            f"{srv.url}/api/models/{repo}/commit/main",
            content=lines,
            headers={"Authorization": f"Bearer {alice}"},
        )
        assert r.status_code == 200, r.text
        got = httpx.get(f"{srv.url}/{repo}/resolve/main/w.bin")
        assert got.content == data
    finally:
        srv.close()
