"""Xet with the real client: hf_xet through huggingface_hub, no settings, against
``commons serve`` on SQLite and PostgreSQL, with the regular-upload ceiling lowered so
that megabytes take the path gigabytes take."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import random
import shutil
import time
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


def test_xet_under_a_url_prefix(tmp_path: Path, repo_name: str) -> None:
    """A hub served under /hub: casUrl, fetch URLs and the xet-auth link carry it."""
    srv = Server("sqlite", prefix="/hub", regular_upload_max_bytes=1_000_000)
    srv.start()
    try:
        token = srv.user("alice")
        data = weights(2_500_000, 7)
        src = tmp_path / "w.bin"
        src.write_bytes(data)
        repo = f"alice/{repo_name}"
        env = {**client_env(srv, token, tmp_path / "u"), "HF_ENDPOINT": srv.endpoint}
        run_python(UPLOAD, {"repo": repo, "path": str(src), "name": "w.bin"}, env)
        env = {**client_env(srv, token, tmp_path / "d"), "HF_ENDPOINT": srv.endpoint}
        got, hashes = run_python(DOWNLOAD, {"repo": repo, "name": "w.bin"}, env)
        assert got == hashlib.sha256(data).hexdigest() and hashes["w.bin"]
        r = httpx.get(
            f"{srv.endpoint}/api/models/{repo}/xet-read-token/main",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.json()["casUrl"] == f"{srv.endpoint}/cas"
    finally:
        srv.close()


def test_the_cas_can_run_in_a_process_of_its_own(tmp_path: Path, repo_name: str) -> None:
    """Scale-out: a second ``commons serve`` on the same data dir and database serves
    the CAS, and the hub tells clients its URL (``xet_cas_url``)."""
    cas = Server("sqlite")
    hub = Server("sqlite", regular_upload_max_bytes=1_000_000, xet_cas_url=f"{cas.url}/cas")
    shutil.rmtree(cas.data_dir)
    cas.data_dir, cas.log = hub.data_dir, hub.data_dir / "cas.log"
    hub.start()
    cas.start()
    try:
        token = hub.user("alice")
        data = weights(2_000_000, 9)
        src = tmp_path / "w.bin"
        src.write_bytes(data)
        repo = f"alice/{repo_name}"
        upload(hub, token, tmp_path / "u", repo, src, "w.bin")
        got, _ = run_python(
            DOWNLOAD, {"repo": repo, "name": "w.bin"}, client_env(hub, token, tmp_path / "d")
        )
        assert got == hashlib.sha256(data).hexdigest()
        assert "/cas/v1/shards" in cas.log.read_text()
        assert "/cas/v1/shards" not in hub.log.read_text()
    finally:
        cas.stop()
        hub.close()


def test_files_that_came_by_lfs_move_into_the_chunk_store(
    xet_server: Server, tmp_path: Path, repo_name: str
) -> None:
    """``commons xet migrate``: an LFS upload is chunked by the hub (through its own
    CAS), its whole-file blob goes, it downloads as before and through Xet, and a
    fine-tune uploaded by Xet dedups against it."""
    srv = xet_server
    token = srv.user("alice")
    base = weights(6_000_000, 11)
    src = tmp_path / "base.bin"
    src.write_bytes(base)
    repo = f"alice/{repo_name}"
    env = client_env(srv, token, tmp_path / "lfs", HF_HUB_DISABLE_XET="1")
    run_python(UPLOAD, {"repo": repo, "path": str(src), "name": "w.bin"}, env)
    sha = hashlib.sha256(base).hexdigest()
    blob = srv.data_dir / "blobs" / "objects" / sha[:2] / sha[2:4] / sha
    assert blob.exists()
    out = srv.cli("xet", "migrate", "--cas-url", f"{srv.url}/cas")
    assert "Moved 1 file" in out.stdout
    assert not blob.exists()
    assert "Moved 0 file" in srv.cli("xet", "migrate", "--cas-url", f"{srv.url}/cas").stdout
    url = f"{srv.url}/{repo}/resolve/main/w.bin"
    auth = {"Authorization": f"Bearer {token}"}
    assert httpx.head(url, headers=auth).headers.get("x-xet-hash")
    assert hashlib.sha256(httpx.get(url, headers=auth).content).hexdigest() == sha
    got, _ = run_python(
        DOWNLOAD, {"repo": repo, "name": "w.bin"}, client_env(srv, token, tmp_path / "d")
    )
    assert got == sha
    tuned = bytearray(base)
    tuned[2_000_000:2_300_000] = weights(300_000, 12)
    src.write_bytes(bytes(tuned))
    before = stored_bytes(srv)
    upload(srv, srv.user("bob"), tmp_path / "b", f"bob/{repo_name}", src, "w.bin")
    assert stored_bytes(srv) - before <= 0.10 * len(tuned)


UPLOAD_FOLDER = r"""
import sys, json
from huggingface_hub import HfApi
a = json.loads(sys.argv[1])
api = HfApi()
api.create_repo(a["repo"], exist_ok=True)
api.upload_folder(folder_path=a["path"], repo_id=a["repo"])
print("RESULT", json.dumps(True))
"""


def test_every_upload_path_moves_into_the_chunk_store_in_the_background(
    tmp_path: Path, repo_name: str
) -> None:
    """By default, files of the LFS threshold or more that arrive by Git LFS (basic or
    multipart) or inline in a commit are chunked by the hub's job queue: their
    whole-file blobs go, and they download, as before and through Xet."""
    srv = Server(
        "sqlite",
        regular_upload_max_bytes=1_000_000,
        lfs_threshold_bytes=1_000_000,
        multipart_chunk_bytes=1024 * 1024,
    )
    srv.start()
    try:
        token = srv.user("alice")
        repo = f"alice/{repo_name}"
        folder = tmp_path / "up"
        folder.mkdir()
        files = {
            "basic.dat": weights(1_040_000, 13),  # one PUT: under a multipart part
            "multi.dat": weights(3_000_000, 14),  # three parts
            "inline.dat": weights(1_200_000, 15),
            "small.dat": weights(900_000, 16),  # under the threshold: left whole
        }
        for name in ("basic.dat", "multi.dat"):
            (folder / name).write_bytes(files[name])
        env = client_env(srv, token, tmp_path / "lfs", HF_HUB_DISABLE_XET="1")
        run_python(UPLOAD_FOLDER, {"repo": repo, "path": str(folder)}, env)
        auth = {"Authorization": f"Bearer {token}"}
        lines = [
            {"key": "header", "value": {"summary": "inline"}},
            *(
                {
                    "key": "file",
                    "value": {
                        "path": name,
                        "content": base64.b64encode(files[name]).decode(),
                        "encoding": "base64",
                    },
                }
                for name in ("inline.dat", "small.dat")
            ),
        ]
        r = httpx.post(
            f"{srv.url}/api/models/{repo}/commit/main",
            content="\n".join(json.dumps(line) for line in lines),
            headers=auth,
            timeout=60,
        )
        assert r.status_code == 200, r.text

        def blob(data: bytes) -> Path:
            sha = hashlib.sha256(data).hexdigest()
            return srv.data_dir / "blobs" / "objects" / sha[:2] / sha[2:4] / sha

        def xet_hash(name: str) -> str | None:
            head = httpx.head(f"{srv.url}/{repo}/resolve/main/{name}", headers=auth)
            return head.headers.get("x-xet-hash")

        moved = ("basic.dat", "multi.dat", "inline.dat")
        for _ in range(600):  # the jobs run on the server's queue: wait for them
            if all(xet_hash(n) and not blob(files[n]).exists() for n in moved):
                break
            time.sleep(0.1)
        for name in moved:
            assert xet_hash(name), name
            assert not blob(files[name]).exists(), name
        assert xet_hash("small.dat") is None
        assert blob(files["small.dat"]).exists()
        for name, data in files.items():
            got = httpx.get(f"{srv.url}/{repo}/resolve/main/{name}", headers=auth)
            assert got.content == data, name
        got, _ = run_python(
            DOWNLOAD, {"repo": repo, "name": "multi.dat"}, client_env(srv, token, tmp_path / "d")
        )
        assert got == hashlib.sha256(files["multi.dat"]).hexdigest()
        # The same bytes again by Git LFS (which sends them to prove it has them): the
        # job only drops the whole-file copy.
        args = {"repo": f"{repo}-again", "path": str(folder / "multi.dat"), "name": "m.dat"}
        run_python(UPLOAD, args, env)
        for _ in range(600):
            if not blob(files["multi.dat"]).exists():
                break
            time.sleep(0.1)
        assert not blob(files["multi.dat"]).exists()
        again = httpx.get(f"{srv.url}/{repo}-again/resolve/main/m.dat", headers=auth)
        assert again.content == files["multi.dat"]
    finally:
        srv.close()
