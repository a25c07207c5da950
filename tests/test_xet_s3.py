"""Xet on a hub whose blobs live in an object store (moto's S3 server, tests/s3.py):
xorbs are objects in the bucket like any blob, files are reconstructed from them by
ranged reads, and ``commons xet migrate`` moves a file that came by LFS into the
chunk store without a local copy of it."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx

from .clients import client_env, run_python
from .s3 import S3Target
from .test_xet import DOWNLOAD, UPLOAD, weights


def _objects(s3: S3Target, prefix: str) -> dict[str, int]:
    client = s3.client()
    bucket, _, base = prefix.removeprefix("s3://").partition("/")
    out: dict[str, int] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=base):
        out.update({o["Key"]: o["Size"] for o in page.get("Contents", [])})
    return out


def test_xet_upload_download_and_migrate_on_s3(
    s3: S3Target, tmp_path: Path, repo_name: str
) -> None:
    from .conftest import s3_server

    url = s3.url()
    srv = s3_server(s3, blob_store=url, regular_upload_max_bytes=1_000_000)
    srv.start()
    try:
        token = srv.user("alice")
        repo = f"alice/{repo_name}"
        # A stock client's Xet upload: its xorbs become objects in the bucket.
        data = weights(2_500_000, 21) + bytes(300_000) + weights(400_001, 22)
        src = tmp_path / "w.bin"
        src.write_bytes(data)
        before = _objects(s3, url)
        env = client_env(srv, token, tmp_path / "u")
        run_python(UPLOAD, {"repo": repo, "path": str(src), "name": "w.bin"}, env)
        sha = hashlib.sha256(data).hexdigest()
        grew = {k: v for k, v in _objects(s3, url).items() if k not in before}
        assert grew and not any(k.endswith(sha) for k in grew)  # chunks, not the file
        assert len(data) * 0.9 <= sum(grew.values()) <= len(data) * 1.01
        # Through Xet, through plain HTTP, and by ranges across chunks.
        for extra in ({}, {"HF_HUB_DISABLE_XET": "1"}):
            home = tmp_path / f"d{len(extra)}"
            got, _ = run_python(
                DOWNLOAD, {"repo": repo, "name": "w.bin"}, client_env(srv, token, home, **extra)
            )
            assert got == sha
        resolve = f"{srv.url}/{repo}/resolve/main/w.bin"
        auth = {"Authorization": f"Bearer {token}"}
        for a, b in [(0, 0), (65_000, 2_700_000), (len(data) - 70_000, len(data) - 1)]:
            r = httpx.get(resolve, headers={**auth, "Range": f"bytes={a}-{b}"})
            assert r.status_code == 206 and r.content == data[a : b + 1]

        # A file that came by LFS, then `commons xet migrate`: streamed from the bucket
        # into the chunk store, its whole-file object goes, it reads as before.
        lfs_data = weights(3_000_000, 23)
        src.write_bytes(lfs_data)
        env = client_env(srv, token, tmp_path / "lfs", HF_HUB_DISABLE_XET="1")
        run_python(UPLOAD, {"repo": repo, "path": str(src), "name": "lfs.bin"}, env)
        lfs_sha = hashlib.sha256(lfs_data).hexdigest()
        store = srv.s3  # type: ignore[attr-defined]
        assert store.exists(lfs_sha)
        out = srv.cli("xet", "migrate", "--cas-url", f"{srv.url}/cas")
        assert "Moved 1 file" in out.stdout, out.stdout
        assert not store.exists(lfs_sha)
        lfs_url = f"{srv.url}/{repo}/resolve/main/lfs.bin"
        assert httpx.head(lfs_url, headers=auth).headers.get("x-xet-hash")
        assert httpx.get(lfs_url, headers=auth).content == lfs_data
        # Garbage collection keeps the xorbs both files use.
        srv.cli("gc", "--grace-hours", "0", process=True)
        assert httpx.get(lfs_url, headers=auth).content == lfs_data
        assert hashlib.sha256(httpx.get(resolve, headers=auth).content).hexdigest() == sha
    finally:
        srv.close()
