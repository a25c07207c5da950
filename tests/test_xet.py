"""Xet with the real client: hf_xet through huggingface_hub, no settings, against
``commons serve`` on SQLite and PostgreSQL, with the regular-upload ceiling lowered so
that megabytes take the path gigabytes take."""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile

from .clients import client_env, run_python
from .conftest import Server

UPLOAD = r"""
import sys, json
from huggingface_hub import HfApi
from huggingface_hub.hf_api import RepoFile
a = json.loads(sys.argv[1])
api = HfApi()
api.create_repo(a["repo"], exist_ok=True, private=a.get("private", False))
info = api.upload_file(path_or_fileobj=a["path"], path_in_repo=a["name"], repo_id=a["repo"])
print("RESULT", json.dumps(info.oid))
"""

DOWNLOAD = r"""
import sys, json, hashlib
from huggingface_hub import hf_hub_download, HfApi
a = json.loads(sys.argv[1])
p = hf_hub_download(a["repo"], a["name"])
files = {f.path: f.xet_hash for f in HfApi().list_repo_tree(a["repo"]) if hasattr(f, "xet_hash")}
print("RESULT", json.dumps([hashlib.sha256(open(p, "rb").read()).hexdigest(), files]))
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def xet_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(request.param, regular_upload_max_bytes=1_000_000)
    srv.start()
    yield srv
    srv.close()


def stored_bytes(srv: Server) -> int:
    root = srv.data_dir / "blobs" / "objects"
    return sum(p.stat().st_size for p in root.rglob("*") if p.is_file())


def upload(
    srv: Server, token: str, home: Path, repo: str, path: Path, name: str, **kw: object
) -> str:
    env = client_env(srv, token, home)
    result: str = run_python(UPLOAD, {"repo": repo, "path": str(path), "name": name, **kw}, env)
    return result


def weights(size: int, seed: int) -> bytes:
    """Model-like bytes: random float-ish data, so chunks do not repeat."""
    return random.Random(seed).randbytes(size)


def test_stock_client_uploads_above_the_ceiling_and_downloads_every_way(
    xet_server: Server, tmp_path: Path, repo_name: str
) -> None:
    srv = xet_server
    token = srv.user("alice")
    data = weights(3_000_000, 1) + bytes(1_500_000) + weights(700_001, 2)
    src = tmp_path / "model.safetensors"
    src.write_bytes(data)
    repo = f"alice/{repo_name}"
    upload(srv, token, tmp_path / "up", repo, src, "model.safetensors")
    sha = hashlib.sha256(data).hexdigest()
    # Git holds an LFS pointer with the sha256 the hub computed.
    tree = HfApi(endpoint=srv.url, token=token).list_repo_tree(repo)
    entry = next(f for f in tree if isinstance(f, RepoFile) and f.path == "model.safetensors")
    assert entry.lfs is not None and entry.lfs.sha256 == sha and entry.size == len(data)
    assert getattr(entry, "xet_hash", None)
    # Through Xet (the stock client), and through plain HTTP (Xet disabled).
    got, hashes = run_python(
        DOWNLOAD,
        {"repo": repo, "name": "model.safetensors"},
        client_env(srv, token, tmp_path / "down"),
    )
    assert got == sha and hashes["model.safetensors"] == entry.xet_hash
    got, _ = run_python(
        DOWNLOAD,
        {"repo": repo, "name": "model.safetensors"},
        client_env(srv, token, tmp_path / "plain", HF_HUB_DISABLE_XET="1"),
    )
    assert got == sha
    # curl-like: the whole file, and ranges across chunk and term boundaries.
    url = f"{srv.url}/{repo}/resolve/main/model.safetensors"
    auth = {"Authorization": f"Bearer {token}"}
    head = httpx.head(url, headers=auth)
    assert head.headers["content-length"] == str(len(data))
    assert head.headers["x-xet-hash"] == entry.xet_hash
    assert "xet-auth" in head.headers["link"]
    assert hashlib.sha256(httpx.get(url, headers=auth).content).hexdigest() == sha
    for a, b in [(0, 0), (65_000, 2_999_999), (2_999_990, 4_600_000), (4_500_000, len(data) - 1)]:
        r = httpx.get(url, headers={**auth, "Range": f"bytes={a}-{b}"})
        assert r.status_code == 206
        assert r.content == data[a : b + 1]
        assert r.headers["content-range"] == f"bytes {a}-{b}/{len(data)}"
    r = httpx.get(url, headers={**auth, "Range": "bytes=-10"})
    assert r.content == data[-10:]
    assert httpx.get(url, headers={**auth, "Range": f"bytes={len(data)}-"}).status_code == 416
    # git-lfs clients get it through the batch API, reconstructed.
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        json={"operation": "download", "objects": [{"oid": sha, "size": len(data)}]},
        headers=auth,
    ).json()
    href = batch["objects"][0]["actions"]["download"]["href"]
    assert hashlib.sha256(httpx.get(href).content).hexdigest() == sha
    # Garbage collection keeps xorbs that files use; fsck finds nothing wrong or missing.
    srv.cli("gc", "--grace-hours", "0")
    assert hashlib.sha256(httpx.get(url, headers=auth).content).hexdigest() == sha
    srv.cli("fsck")


def test_a_fine_tune_in_another_users_repository_stores_little(
    xet_server: Server, tmp_path: Path, repo_name: str
) -> None:
    srv = xet_server
    base = weights(8_000_000, 3)
    tuned = bytearray(base)
    # 5 % of the bytes changed, in a few contiguous regions (some layers retrained).
    for start in (1_000_000, 4_000_000, 6_500_000):
        tuned[start : start + 133_333] = weights(133_333, start)
    src_base, src_tuned = tmp_path / "base.bin", tmp_path / "tuned.bin"
    src_base.write_bytes(base)
    src_tuned.write_bytes(bytes(tuned))
    upload(srv, srv.user("alice"), tmp_path / "a", f"alice/{repo_name}", src_base, "w.bin")
    before = stored_bytes(srv)
    bob = srv.user("bob")
    upload(srv, bob, tmp_path / "b", f"bob/{repo_name}-ft", src_tuned, "w.bin")
    grew = stored_bytes(srv) - before
    assert grew <= 0.10 * len(tuned), f"stored {grew} bytes for a 5 % fine-tune"
    got, _ = run_python(
        DOWNLOAD,
        {"repo": f"bob/{repo_name}-ft", "name": "w.bin"},
        client_env(srv, bob, tmp_path / "bd", HF_HUB_DISABLE_XET="1"),
    )
    assert got == hashlib.sha256(tuned).hexdigest()


def test_random_data_costs_little_overhead(
    xet_server: Server, tmp_path: Path, repo_name: str
) -> None:
    srv = xet_server
    data = os.urandom(5_000_000)
    src = tmp_path / "r.bin"
    src.write_bytes(data)
    before = stored_bytes(srv)
    upload(srv, srv.user("alice"), tmp_path / "r", f"alice/{repo_name}", src, "r.bin")
    grew = stored_bytes(srv) - before
    assert len(data) <= grew <= 1.01 * len(data)


def test_server_memory_stays_flat(tmp_path: Path, repo_name: str) -> None:
    """A 256 MB Xet upload (four xorbs, sent in parallel), then downloads through Xet
    and plain HTTP: the server's peak RSS grows by less than 100 MB."""
    srv = Server("sqlite", regular_upload_max_bytes=1_000_000, log_requests="false")
    srv.start()
    try:
        token = srv.user("alice")
        src = tmp_path / "big.bin"
        with open(src, "wb") as f:
            for i in range(32):
                f.write(weights(8_000_000, 100 + i))
        base = srv.rss_kb()
        srv.reset_high_water()
        repo = f"alice/{repo_name}"
        upload(srv, token, tmp_path / "u", repo, src, "big.bin")
        for extra in ({}, {"HF_HUB_DISABLE_XET": "1"}):
            env = client_env(srv, token, tmp_path / f"d{len(extra)}", **extra)
            run_python(DOWNLOAD, {"repo": repo, "name": "big.bin"}, env)
        growth = srv.rss_high_water_kb() - base
        assert growth < 100 * 1024, f"server memory grew by {growth // 1024} MiB"
    finally:
        srv.close()
