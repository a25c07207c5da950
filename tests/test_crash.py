"""SIGKILL during uploads and commits leaves the previous state intact."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi

from .conftest import Server


@pytest.fixture(params=["sqlite", "postgresql"])
def crash_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(request.param)
    srv.start()
    yield srv
    srv.close()


def _blob_store_is_consistent(srv: Server) -> list[Path]:
    """Every stored blob's bytes hash to its name; returns the blob paths."""
    objects = srv.data_dir / "blobs" / "objects"
    blobs = [p for p in objects.rglob("*") if p.is_file()]
    for path in blobs:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 20):
                h.update(chunk)
        assert h.hexdigest() == path.name, f"corrupt blob {path}"
    return blobs


def _kill_mid_body(
    srv: Server, method: str, url: str, first: bytes, rest: bytes, headers: dict[str, str]
) -> None:
    """Send ``first``, then SIGKILL the server before ``rest`` goes out."""
    sent = threading.Event()
    killed = threading.Event()

    def body() -> Iterator[bytes]:
        yield first
        sent.set()
        killed.wait(30)
        yield rest

    def client() -> None:
        with contextlib.suppress(httpx.HTTPError):
            httpx.request(method, url, content=body(), headers=headers, timeout=30)

    thread = threading.Thread(target=client)
    thread.start()
    assert sent.wait(30)
    time.sleep(0.5)  # let the server receive and stage the first half
    srv.kill()
    killed.set()
    thread.join(30)


def test_kill_during_lfs_upload(crash_server: Server, repo_name: str) -> None:
    srv = crash_server
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    api = HfApi(endpoint=srv.url, token=token)
    api.create_repo(repo)
    before = api.model_info(repo).sha
    data = os.urandom(8 * 1024 * 1024)
    oid = hashlib.sha256(data).hexdigest()
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]},
    )
    href = batch.json()["objects"][0]["actions"]["upload"]["href"]
    _kill_mid_body(
        srv,
        "PUT",
        href,
        data[: len(data) // 2],
        data[len(data) // 2 :],
        {"Content-Length": str(len(data))},
    )
    srv.start()
    assert api.model_info(repo).sha == before
    assert all(p.name != oid for p in _blob_store_is_consistent(srv))
    # The object is not present, so a commit referencing it is refused...
    body = "\n".join(
        json.dumps(x)
        for x in [
            {"key": "header", "value": {"summary": "x"}},
            {
                "key": "lfsFile",
                "value": {"path": "x.bin", "algo": "sha256", "oid": oid, "size": len(data)},
            },
        ]
    )
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 422
    # ... and uploading again works.
    assert httpx.put(href, content=data).status_code == 200


def test_kill_during_commit_body(crash_server: Server, repo_name: str) -> None:
    srv = crash_server
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    api = HfApi(endpoint=srv.url, token=token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"v1", path_in_repo="keep.txt", repo_id=repo)
    before = api.model_info(repo).sha
    content = base64.b64encode(os.urandom(6 * 1024 * 1024)).decode()
    lines = [
        json.dumps({"key": "header", "value": {"summary": "interrupted"}}),
        json.dumps(
            {
                "key": "file",
                "value": {
                    "path": "keep.txt",
                    "encoding": "base64",
                    "content": base64.b64encode(b"v2").decode(),
                },
            }
        ),
        json.dumps(
            {"key": "file", "value": {"path": "big.dat", "encoding": "base64", "content": content}}
        ),
    ]
    raw = "\n".join(lines).encode()
    _kill_mid_body(
        srv,
        "POST",
        f"{srv.url}/api/models/{repo}/commit/main",
        raw[: len(raw) // 2],
        raw[len(raw) // 2 :],
        {"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    srv.start()
    assert api.model_info(repo).sha == before
    assert set(api.list_repo_files(repo)) == {".gitattributes", "keep.txt"}
    assert httpx.get(f"{srv.url}/{repo}/resolve/main/keep.txt").content == b"v1"
    _blob_store_is_consistent(srv)


def test_kill_at_random_moments_during_commits(crash_server: Server, repo_name: str) -> None:
    """Kill while several writers commit; every visible commit is whole."""
    srv = crash_server
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=token).create_repo(repo)
    rng = random.Random(1234)
    for round_ in range(3):
        stop = threading.Event()

        def writer(w: int, round_: int = round_, stop: threading.Event = stop) -> None:
            api = HfApi(endpoint=srv.url, token=token)
            i = 0
            while not stop.is_set():
                payload = f"{round_}-{w}-{i}".encode() * 1000
                try:
                    api.create_commit(
                        repo,
                        [
                            CommitOperationAdd(f"r{round_}/w{w}/{i}.txt", payload),
                            CommitOperationAdd(
                                f"r{round_}/w{w}/{i}.sha",
                                hashlib.sha256(payload).hexdigest().encode(),
                            ),
                        ],
                        commit_message=f"{round_}/{w}/{i}",
                    )
                except Exception:
                    return
                i += 1

        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        time.sleep(rng.uniform(0.5, 2.0))
        srv.kill()
        stop.set()
        srv.start()  # writers that were retrying finish against the restarted hub
        for t in threads:
            t.join(60)
        api = HfApi(endpoint=srv.url, token=token)
        files = set(api.list_repo_files(repo))
        # Each commit wrote a file and its checksum: both are there or neither.
        with httpx.Client(base_url=f"{srv.url}/{repo}/resolve/main/") as client:
            for name in files:
                if name.endswith(".txt"):
                    assert name[:-4] + ".sha" in files
                    got = client.get(name).content
                    want = client.get(f"{name[:-4]}.sha").content
                    assert hashlib.sha256(got).hexdigest().encode() == want
        _blob_store_is_consistent(srv)


@pytest.fixture(params=["sqlite", "postgresql"])
def multipart_crash_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    srv = Server(request.param, multipart_chunk_bytes=1024 * 1024)
    srv.start()
    yield srv
    srv.close()


def test_kill_during_multipart_part(multipart_crash_server: Server, repo_name: str) -> None:
    """Killed while a part in order is written into the object being assembled: after
    the restart the client sends that part again and completes, and the completion
    takes over the parts the dead request's assembly held."""
    srv = multipart_crash_server
    chunk = 1024 * 1024
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=token).create_repo(repo)
    data = os.urandom(3 * chunk - 5)
    oid = hashlib.sha256(data).hexdigest()
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],  # as huggingface_hub asks
            "objects": [{"oid": oid, "size": len(data)}],
        },
    )
    upload = batch.json()["objects"][0]["actions"]["upload"]
    urls = {int(k): v for k, v in upload["header"].items() if k.isdigit()}
    etags = [{"partNumber": 1, "etag": httpx.put(urls[1], content=data[:chunk]).headers["etag"]}]
    part2 = data[chunk : 2 * chunk]
    _kill_mid_body(
        srv, "PUT", urls[2], part2[:1000], part2[1000:], {"Content-Length": str(len(part2))}
    )
    srv.start()
    (folder,) = (srv.data_dir / "blobs" / "staging").glob("parts-*")
    assert [p.name.split("-")[:2] for p in folder.iterdir()] == [["held", "1"]]  # orphaned
    for number in (2, 3):
        r = httpx.put(urls[number], content=data[(number - 1) * chunk : number * chunk])
        assert r.status_code == 200
        etags.append({"partNumber": number, "etag": r.headers["etag"]})
    done = httpx.post(upload["href"], json={"oid": oid, "parts": etags})
    assert done.status_code == 200, done.text
    assert any(p.name == oid for p in _blob_store_is_consistent(srv))
