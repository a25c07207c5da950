"""SIGKILL during Xet uploads and background chunking: nothing corrupt, nothing
half-registered, and the upload retried after a restart succeeds."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import random
import sqlite3
import time
from pathlib import Path

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


def _chunker_of(pid: int) -> int | None:
    """The pid of ``pid``'s chunker child process (modelcommons.xet.chunker), if any."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            with contextlib.suppress(OSError):
                if b"modelcommons.xet.chunker" in Path(f"/proc/{child}/cmdline").read_bytes():
                    return int(child)
    return None


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return True
    return state in ("Z", "X")  # a zombie, that init will reap, runs no more


def test_killed_background_chunking_loses_nothing_and_migrate_finishes(
    repo_name: str,
) -> None:
    """SIGKILL to the hub while its job queue chunks an LFS upload: the file stays
    whole and downloadable, is registered whole or not at all, fsck finds nothing
    wrong, and ``commons xet migrate`` after the restart finishes the move."""
    srv = Server("sqlite", regular_upload_max_bytes=1_000_000, lfs_threshold_bytes=1_000_000)
    srv.start()
    try:
        alice = srv.user("alice")
        auth = {"Authorization": f"Bearer {alice}"}
        repo = f"alice/{repo_name}"
        HfApi(endpoint=srv.url, token=alice).create_repo(repo)
        data = random.Random(7).randbytes(24 * 1024 * 1024)
        sha = hashlib.sha256(data).hexdigest()
        batch = httpx.post(
            f"{srv.url}/{repo}.git/info/lfs/objects/batch",
            headers=auth,
            json={"operation": "upload", "objects": [{"oid": sha, "size": len(data)}]},
        ).json()
        href = batch["objects"][0]["actions"]["upload"]["href"]
        assert httpx.put(href, content=data, timeout=60).status_code == 200
        assert srv.proc is not None
        chunker = None
        for _ in range(3000):  # the job starts once the upload is verified
            chunker = _chunker_of(srv.proc.pid)
            if chunker is not None:
                break
            time.sleep(0.01)
        assert chunker is not None, "no chunker process started"
        srv.kill()
        for _ in range(3000):  # its input ends with the hub: it stops by itself
            if _gone(chunker):
                break
            time.sleep(0.01)
        assert _gone(chunker)

        db = sqlite3.connect(srv.data_dir / "commons.db")
        sizes = db.execute("SELECT size FROM xet_files WHERE sha256 = ?", (sha,)).fetchall()
        db.close()
        assert sizes in ([], [(len(data),)])  # whole or not at all
        assert "0 corrupt, 0 missing" in srv.cli("fsck").stdout
        srv.start()
        lines = (
            '{"key": "header", "value": {"summary": "after a crash"}}\n'
            '{"key": "lfsFile", "value": {"path": "w.bin", "algo": "sha256", '
            f'"oid": "{sha}", "size": {len(data)}}}}}\n'
        )
        r = httpx.post(f"{srv.url}/api/models/{repo}/commit/main", content=lines, headers=auth)
        assert r.status_code == 200, r.text
        url = f"{srv.url}/{repo}/resolve/main/w.bin"
        assert httpx.get(url, headers=auth, timeout=60).content == data

        out = srv.cli("xet", "migrate", "--cas-url", f"{srv.url}/cas").stdout
        assert "Moved 1 file" in out or "Removed 1 whole-file" in out, out
        blob = srv.data_dir / "blobs" / "objects" / sha[:2] / sha[2:4] / sha
        assert not blob.exists()
        assert httpx.head(url, headers=auth).headers.get("x-xet-hash")
        assert httpx.get(url, headers=auth, timeout=60).content == data
        assert "0 corrupt, 0 missing" in srv.cli("fsck").stdout
    finally:
        srv.close()
