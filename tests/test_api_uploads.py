"""Uploads: regular and LFS paths, verification, validation and atomicity."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import (
    CommitOperationAdd,
    HfApi,
    hf_hub_download,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError

from .conftest import Server, s3_server

MB = 1000 * 1000


@pytest.fixture(scope="module", params=["local", "s3"])
def lfs_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """conftest's LFS hub (LFS over 1 MB, 5 MiB multipart parts), here twice: blobs on
    local disk, and in an S3-compatible store (tests/s3.py)."""
    settings = {"regular_upload_max_bytes": 1_000_000, "multipart_chunk_bytes": 5 * 1024 * 1024}
    if request.param == "s3":
        srv = s3_server(request.getfixturevalue("s3"), **settings)
    else:
        srv = Server("sqlite", **settings)
    srv.start()
    yield srv
    srv.close()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _big(tmp_path: Path, name: str, size: int) -> Path:
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return path


def test_upload_folder_regular_path_with_xet_on(
    sqlite_server: Server, repo_name: str, tmp_path: Path
) -> None:
    """A stock client (hf_xet installed, nothing set) uploads a >10 MB file."""
    import huggingface_hub.constants as constants

    assert not constants.HF_HUB_DISABLE_XET
    srv = sqlite_server
    api = HfApi(endpoint=srv.url, token=srv.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    folder = tmp_path / "up"
    folder.mkdir()
    (folder / "small.txt").write_text("hello")
    big = _big(folder, "model.bin", 12 * MB)
    api.upload_folder(repo_id=repo, folder_path=folder)
    info = api.model_info(repo, files_metadata=True)
    stored = {s.rfilename: s for s in info.siblings or []}
    assert stored["model.bin"].lfs is not None  # stored as LFS, with a pointer in the tree
    assert stored["model.bin"].lfs.sha256 == _sha256(big)
    assert stored["small.txt"].lfs is None
    out = hf_hub_download(repo, "model.bin", endpoint=srv.url, token=api.token)
    assert _sha256(Path(out)) == _sha256(big)


def test_lfs_path_with_xet_disabled(
    lfs_server: Server, repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    """HF_HUB_DISABLE_XET=1: preupload says lfs, the client uses batch/PUT/verify."""
    srv = lfs_server
    api = HfApi(endpoint=srv.url, token=srv.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    folder = tmp_path / "up"
    folder.mkdir()
    basic = _big(folder, "basic.dat", 3 * MB)  # under 10 MB and no LFS pattern
    multi = _big(folder, "multi.dat", 12 * MB)  # > 5 MiB chunk: multipart
    api.upload_folder(repo_id=repo, folder_path=folder)
    siblings = {s.rfilename: s for s in api.model_info(repo, files_metadata=True).siblings or []}
    # Only an LFS upload makes a 3 MB .dat file an LFS object: the path was taken.
    assert siblings["basic.dat"].lfs is not None
    for f in (basic, multi):
        out = hf_hub_download(repo, f.name, endpoint=srv.url, token=api.token)
        assert _sha256(Path(out)) == _sha256(f)
    # Re-uploading identical content: the batch reports the objects as present.
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {api.token}"},
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": _sha256(multi), "size": multi.stat().st_size}],
        },
    ).json()
    assert "actions" not in batch["objects"][0]
    assert batch["transfer"] in ("basic", "multipart")  # never "xet"


def _lfs_put(srv: Server, repo: str, token: str, data: bytes, claimed: str) -> httpx.Response:
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={"operation": "upload", "objects": [{"oid": claimed, "size": len(data)}]},
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    return httpx.put(href, content=data)  # no Authorization: the URL is signed


def test_lfs_multipart_protocol(lfs_server: Server, repo_name: str) -> None:
    """The multipart answer, part PUTs without auth, completion and verify."""
    srv = lfs_server
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=token).create_repo(repo)
    data = os.urandom(11 * 1024 * 1024 + 7)
    oid = hashlib.sha256(data).hexdigest()
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": oid, "size": len(data)}],
        },
    ).json()
    upload = batch["objects"][0]["actions"]["upload"]
    chunk = int(upload["header"]["chunk_size"])
    parts = sorted((int(k), v) for k, v in upload["header"].items() if k.isdigit())
    assert len(parts) == 3 == -(-len(data) // chunk)
    etags = []
    for number, url in reversed(parts):  # order does not matter
        r = httpx.put(url, content=data[(number - 1) * chunk : number * chunk])
        assert r.status_code == 200 and r.headers["etag"]
        etags.append({"partNumber": number, "etag": r.headers["etag"]})
    # Completion with a missing part is refused; with all parts it is verified.
    short = httpx.post(upload["href"], json={"oid": oid, "parts": etags[1:]})
    assert short.status_code == 400
    done = httpx.post(upload["href"], json={"oid": oid, "parts": etags})
    assert done.status_code == 200
    verify = batch["objects"][0]["actions"]["verify"]["href"]
    assert (
        httpx.post(
            verify,
            headers={"Authorization": f"Bearer {token}"},
            json={"oid": oid, "size": len(data)},
        ).status_code
        == 200
    )
    body = "\n".join(
        json.dumps(x)
        for x in [
            {"key": "header", "value": {"summary": "add multipart"}},
            {"key": "lfsFile", "value": {"path": "m.dat", "algo": "sha256", "oid": oid}},
        ]
    )
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text
    got = httpx.get(f"{srv.url}/{repo}/resolve/main/m.dat")
    assert hashlib.sha256(got.content).hexdigest() == oid


def test_lfs_object_is_verified_before_use(lfs_server: Server, repo_name: str) -> None:
    srv = lfs_server
    token = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=token).create_repo(repo)
    data = os.urandom(2000)
    wrong = hashlib.sha256(b"something else").hexdigest()
    bad = _lfs_put(srv, repo, token, data, wrong)
    assert bad.status_code == 400 and "do not match" in bad.headers["x-error-message"]
    # A commit may not reference the object that failed verification...
    body = "\n".join(
        json.dumps(line)
        for line in [
            {"key": "header", "value": {"summary": "sneak"}},
            {
                "key": "lfsFile",
                "value": {"path": "x.bin", "algo": "sha256", "oid": wrong, "size": 2000},
            },
        ]
    )
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/x-ndjson"},
    )
    assert r.status_code == 422 and "has not been uploaded" in r.json()["error"]
    # ... and a tampered signature is refused.
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "operation": "upload",
            "objects": [{"oid": hashlib.sha256(data).hexdigest(), "size": len(data)}],
        },
    ).json()
    href = batch["objects"][0]["actions"]["upload"]["href"]
    assert httpx.put(href[:-3] + "AAA", content=data).status_code == 403
    assert httpx.put(href, content=data).status_code == 200
    verify = batch["objects"][0]["actions"]["verify"]["href"]
    ok = httpx.post(
        verify,
        headers={"Authorization": f"Bearer {token}"},
        json={"oid": hashlib.sha256(data).hexdigest(), "size": len(data)},
    )
    assert ok.status_code == 200


def test_objects_of_other_repos_cannot_be_linked(lfs_server: Server, repo_name: str) -> None:
    """Knowing a hash is not enough to commit someone else's private object."""
    srv = lfs_server
    alice, mallory = srv.user("alice"), srv.user("mallory")
    HfApi(endpoint=srv.url, token=alice).create_repo(f"alice/{repo_name}", private=True)
    data = os.urandom(1500)
    oid = hashlib.sha256(data).hexdigest()
    assert _lfs_put(srv, f"alice/{repo_name}", alice, data, oid).status_code == 200
    HfApi(endpoint=srv.url, token=mallory).create_repo(f"mallory/{repo_name}")
    batch = httpx.post(
        f"{srv.url}/mallory/{repo_name}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {mallory}"},
        json={"operation": "upload", "objects": [{"oid": oid, "size": len(data)}]},
    ).json()
    assert "actions" in batch["objects"][0]  # not reported present: no oracle
    body = "\n".join(
        json.dumps(x)
        for x in [
            {"key": "header", "value": {"summary": "steal"}},
            {"key": "lfsFile", "value": {"path": "x.bin", "algo": "sha256", "oid": oid}},
        ]
    )
    r = httpx.post(
        f"{srv.url}/api/models/mallory/{repo_name}/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {mallory}"},
    )
    assert r.status_code == 422


def test_delete_file_and_folder(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    api.create_commit(
        repo,
        [
            CommitOperationAdd("a/1.txt", b"1"),
            CommitOperationAdd("a/2.txt", b"2"),
            CommitOperationAdd("b.txt", b"b"),
        ],
        commit_message="add",
    )
    api.delete_file("b.txt", repo)
    api.delete_folder("a", repo)
    assert api.list_repo_files(repo) == [".gitattributes"]
    with pytest.raises(EntryNotFoundError):
        api.delete_file("b.txt", repo)


def test_parent_commit_conflict(server: Server, repo_name: str) -> None:
    api = HfApi(endpoint=server.url, token=server.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    base = api.model_info(repo).sha
    api.upload_file(path_or_fileobj=b"1", path_in_repo="one.txt", repo_id=repo)
    with pytest.raises(HfHubHTTPError) as stale:
        api.create_commit(
            repo, [CommitOperationAdd("two.txt", b"2")], commit_message="late", parent_commit=base
        )
    assert stale.value.response.status_code == 412
    assert "two.txt" not in api.list_repo_files(repo)
    head = api.model_info(repo).sha
    api.create_commit(
        repo, [CommitOperationAdd("two.txt", b"2")], commit_message="ok", parent_commit=head
    )
    assert "two.txt" in api.list_repo_files(repo)


@pytest.mark.parametrize(
    "path",
    [
        "../escape.txt",
        "/abs.txt",
        "a\\b.txt",
        "a/../../b",
        ".git/config",
        "x/.git/HEAD",
        "nul\x00.txt",
        "a//b",
        "./x",
    ],
)
def test_hostile_paths_are_refused(sqlite_server: Server, path: str) -> None:
    srv = sqlite_server
    token = srv.user("alice")
    repo = "alice/paths"
    HfApi(endpoint=srv.url, token=token).create_repo(repo, exist_ok=True)
    before = HfApi(endpoint=srv.url, token=token).model_info(repo).sha
    body = "\n".join(
        json.dumps(x)
        for x in [
            {"key": "header", "value": {"summary": "evil"}},
            {
                "key": "file",
                "value": {
                    "path": "ok.txt",
                    "content": base64.b64encode(b"ok").decode(),
                    "encoding": "base64",
                },
            },
            {
                "key": "file",
                "value": {
                    "path": path,
                    "content": base64.b64encode(b"x").decode(),
                    "encoding": "base64",
                },
            },
        ]
    )
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content=body,
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 400
    # A NUL is refused with the JSON it came in (inputs.py), the rest by the path rules.
    expected = "may not contain a NUL" if "\x00" in path else "Invalid path"
    assert r.headers["x-error-code"] == "BadRequest" and expected in r.json()["error"]
    # All or nothing: the valid file in the same commit did not land either.
    assert HfApi(endpoint=srv.url, token=token).model_info(repo).sha == before


@pytest.mark.parametrize("name", ["a..b", "-lead", "x" * 97, "sp ace", "a--b", "ends.git"])
def test_hostile_repo_names_are_refused(sqlite_server: Server, name: str) -> None:
    r = httpx.post(
        f"{sqlite_server.url}/api/repos/create",
        json={"name": name},
        headers={"Authorization": f"Bearer {sqlite_server.user('alice')}"},
    )
    assert r.status_code == 400 and r.headers["x-error-message"]


def test_malformed_commit_bodies(sqlite_server: Server) -> None:
    srv = sqlite_server
    token = srv.user("alice")
    HfApi(endpoint=srv.url, token=token).create_repo("alice/malformed", exist_ok=True)
    url = f"{srv.url}/api/models/alice/malformed/commit/main"
    auth = {"Authorization": f"Bearer {token}"}
    cases = {
        b"not json\n": "not JSON",
        b'{"key": "file", "value": {"path": "a", "content": "!!!!"}}\n': "base64",
        b'{"key": "file", "value": {"path": "a", "content": "YWJj': "ended inside",
        b'{"key": "bogus", "value": {"path": "a"}}\n': "Unknown commit line",
    }
    for body, message in cases.items():
        r = httpx.post(url, content=body, headers=auth)
        assert r.status_code == 400, body
        assert message in r.json()["error"], (body, r.json())
    staging = srv.data_dir / "blobs" / "staging"
    assert list(staging.iterdir()) == []  # refused uploads leave nothing behind


def test_preupload_modes_and_oids(lfs_server: Server, repo_name: str) -> None:
    srv = lfs_server
    api = HfApi(endpoint=srv.url, token=srv.user("alice"))
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"same", path_in_repo="same.txt", repo_id=repo)
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/preupload/main",
        headers={"Authorization": f"Bearer {api.token}"},
        json={
            "files": [
                {"path": "same.txt", "size": 4, "sample": ""},
                {"path": "big.bin", "size": 2 * MB, "sample": ""},
                {"path": "logs/x.log", "size": 1, "sample": ""},
            ],
            "gitIgnore": "logs/\n",
        },
    ).json()
    modes = {f["path"]: f for f in r["files"]}
    assert modes["same.txt"]["uploadMode"] == "regular"
    assert modes["same.txt"]["oid"] == hashlib.sha1(b"blob 4\0same").hexdigest()
    assert modes["big.bin"]["uploadMode"] == "lfs"
    assert modes["logs/x.log"]["shouldIgnore"] is True


def test_uploads_take_the_asgi_path_when_socket_bodies_are_off(
    repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    """``socket_body_slots = 0``: every body comes through uvicorn's ASGI messages
    (the path uploads take when the slots are busy), with the same result for the
    stock client's basic and multipart uploads."""
    srv = Server(
        "sqlite",
        socket_body_slots=0,
        regular_upload_max_bytes=1_000_000,
        multipart_chunk_bytes=5 * 1024 * 1024,
    )
    srv.start()
    try:
        api = HfApi(endpoint=srv.url, token=srv.user("alice"))
        repo = f"alice/{repo_name}"
        api.create_repo(repo)
        folder = tmp_path / "up"
        folder.mkdir()
        files = [_big(folder, "basic.dat", 3 * MB), _big(folder, "multi.dat", 12 * MB)]
        api.upload_folder(repo_id=repo, folder_path=folder)
        for f in files:
            out = hf_hub_download(repo, f.name, endpoint=srv.url, token=api.token)
            assert _sha256(Path(out)) == _sha256(f)
    finally:
        srv.close()


def test_a_stalled_lfs_upload_gets_408_and_leaves_nothing(repo_name: str) -> None:
    """A client that stops sending half-way through a body read from the socket:
    after ``body_idle_timeout_seconds`` it gets 408 in the error shape, the
    connection closes, the staging file is gone and the object is still missing."""
    srv = Server("sqlite", body_idle_timeout_seconds=1)
    srv.start()
    try:
        token = srv.user("alice")
        repo = f"alice/{repo_name}"
        HfApi(endpoint=srv.url, token=token).create_repo(repo)
        data = os.urandom(2 * 1024 * 1024)
        claimed = hashlib.sha256(data).hexdigest()
        batch = {"operation": "upload", "objects": [{"oid": claimed, "size": len(data)}]}
        url = f"{srv.url}/{repo}.git/info/lfs/objects/batch"
        auth = {"Authorization": f"Bearer {token}"}
        answer = httpx.post(url, headers=auth, json=batch).json()
        href = httpx.URL(answer["objects"][0]["actions"]["upload"]["href"])
        with socket.create_connection((href.host, href.port), timeout=30) as conn:
            conn.sendall(
                f"PUT {href.raw_path.decode()} HTTP/1.1\r\nHost: {href.host}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data[:100_000]
            )
            response = b""
            while chunk := conn.recv(65536):  # until the server closes
                response += chunk
        head, _, body = response.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 "), head
        assert b"x-error-code: RequestTimeout" in head
        assert b"connection: close" in head.lower()
        assert json.loads(body)["error"].startswith("No part of the request body arrived")
        staging = srv.data_dir / "blobs" / "staging"
        assert not [p for p in staging.rglob("*") if p.is_file()]
        again = httpx.post(url, headers=auth, json=batch).json()
        assert "actions" in again["objects"][0]  # still to be uploaded
    finally:
        srv.close()
