"""The server streams: its memory stays flat while large files go up and down."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
from huggingface_hub import HfApi

from .conftest import Server

GiB = 1024**3
LIMIT_KB = 100 * 1024  # growth allowed, whatever the file size


def _write_big(path: Path, size: int) -> str:
    block = os.urandom(16 * 1024 * 1024)
    h = hashlib.sha256()
    with open(path, "wb") as f:
        for i in range(size // len(block)):
            piece = i.to_bytes(8, "big") + block[8:]
            f.write(piece)
            h.update(piece)
    return h.hexdigest()


def test_one_gib_lfs_up_and_down_with_flat_memory(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    srv = sqlite_server
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=token).create_repo(repo)
    big = tmp_path / "big.dat"
    oid = _write_big(big, GiB)
    srv.reset_high_water()
    baseline = srv.rss_kb()
    with httpx.Client(timeout=300) as client:
        batch = client.post(
            f"{srv.url}/{repo}.git/info/lfs/objects/batch",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "operation": "upload",
                "transfers": ["basic", "multipart"],
                "objects": [{"oid": oid, "size": GiB}],
            },
        ).json()
        upload = batch["objects"][0]["actions"]["upload"]
        chunk = int(upload["header"]["chunk_size"])
        parts = []
        with open(big, "rb") as f:
            for key, url in sorted(upload["header"].items()):
                if not key.isdigit():
                    continue
                f.seek((int(key) - 1) * chunk)
                r = client.put(url, content=f.read(chunk))
                parts.append({"partNumber": int(key), "etag": r.headers["etag"]})
        assert client.post(upload["href"], json={"oid": oid, "parts": parts}).status_code == 200
        body = "\n".join(
            json.dumps(x)
            for x in [
                {"key": "header", "value": {"summary": "1 GiB"}},
                {
                    "key": "lfsFile",
                    "value": {"path": "big.dat", "algo": "sha256", "oid": oid, "size": GiB},
                },
            ]
        )
        r = client.post(
            f"{srv.url}/api/models/{repo}/commit/main",
            content=body,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.status_code == 200, r.text
        h = hashlib.sha256()
        with client.stream("GET", f"{srv.url}/{repo}/resolve/main/big.dat") as response:
            for data in response.iter_bytes(8 * 1024 * 1024):
                h.update(data)
        assert h.hexdigest() == oid
    growth = srv.rss_high_water_kb() - baseline
    assert growth < LIMIT_KB, f"server memory grew by {growth // 1024} MiB"


def test_large_inline_commit_is_streamed(sqlite_server: Server, repo_name: str) -> None:
    """A 256 MiB file sent base64-inline in the NDJSON commit, as the regular path does."""
    srv = sqlite_server
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=token).create_repo(repo)
    block = os.urandom(3 * 1024 * 1024)  # a multiple of 3: base64 pieces concatenate
    count = 85
    digest = hashlib.sha256()
    for _ in range(count):
        digest.update(block)
    encoded = base64.b64encode(block)

    def body() -> Iterator[bytes]:
        yield json.dumps({"key": "header", "value": {"summary": "inline"}}).encode() + b"\n"
        yield b'{"key": "file", "value": {"content": "'
        for _ in range(count):
            yield encoded
        yield b'", "path": "inline.dat", "encoding": "base64"}}\n'

    srv.reset_high_water()
    baseline = srv.rss_kb()
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content=body(),
        headers={"Authorization": f"Bearer {token}"},
        timeout=300,
    )
    assert r.status_code == 200, r.text
    growth = srv.rss_high_water_kb() - baseline
    assert growth < LIMIT_KB, f"server memory grew by {growth // 1024} MiB"
    head = httpx.head(f"{srv.url}/{repo}/resolve/main/inline.dat")
    assert head.headers["x-linked-etag"] == f'"{digest.hexdigest()}"'
    assert head.headers["x-linked-size"] == str(len(block) * count)
