"""A blob stored under the name X always hashes to X: attacks on that, and `commons fsck`.

Raw HTTP (httpx) against a real `commons serve`, on SQLite and PostgreSQL, and with
its blobs in an S3-compatible store (moto's server, tests/s3.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download
from huggingface_hub.errors import HfHubHTTPError

from modelcommons.settings import Settings

from .conftest import Server, s3_server

MiB = 1024 * 1024
CHUNK = MiB


@pytest.fixture(scope="module", params=["sqlite", "postgresql", "s3"])
def srv(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A hub of its own (fsck is hub-wide) with 1 MiB multipart parts."""
    settings = {"multipart_chunk_bytes": CHUNK, "regular_upload_max_bytes": MiB}
    if request.param == "s3":
        server = s3_server(request.getfixturevalue("s3"), **settings)
    else:
        server = Server(request.param, **settings)
    server.start()
    yield server
    server.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _blob(srv: Server, sha: str) -> Path:
    return srv.data_dir / "blobs" / "objects" / sha[:2] / sha[2:4] / sha


def _stored(srv: Server, sha: str) -> bytes | None:
    """The bytes the store holds under a name, local or S3 alike."""
    store = getattr(srv, "s3", None)
    if store is None:
        return _blob(srv, sha).read_bytes() if _blob(srv, sha).exists() else None
    if not store.exists(sha):
        return None
    with store.open(sha) as f:
        data: bytes = f.read()
        return data


def _plant(srv: Server, sha: str, data: bytes) -> None:
    """Other bytes under a stored blob's name, behind the hub's back."""
    store = getattr(srv, "s3", None)
    if store is None:
        _blob(srv, sha).write_bytes(data)
    else:
        store.client.put_object(Bucket=store.bucket, Key=store.key(sha), Body=data)


def _quarantined(srv: Server) -> set[str]:
    store = getattr(srv, "s3", None)
    if store is None:
        return {p.name.split(".")[0] for p in (srv.data_dir / "blobs" / "quarantine").iterdir()}
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=f"{store.prefix}quarantine/")
    return {o["Key"].rsplit("/", 1)[-1].split(".")[0] for o in listed.get("Contents", [])}


def _batch(srv: Server, repo: str, token: str, data: bytes) -> dict[str, Any]:
    answer = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "operation": "upload",
            "transfers": ["basic", "multipart"],
            "objects": [{"oid": _sha(data), "size": len(data)}],
        },
    )
    assert answer.status_code == 200, answer.text
    obj: dict[str, Any] = answer.json()["objects"][0]
    return obj


def _parts(upload: dict[str, Any]) -> dict[int, str]:
    return {int(k): v for k, v in upload["header"].items() if k.isdigit()}


def _commit_lfs(srv: Server, repo: str, token: str, path: str, data: bytes) -> None:
    lines = [
        {"key": "header", "value": {"summary": f"add {path}"}},
        {
            "key": "lfsFile",
            "value": {"path": path, "algo": "sha256", "oid": _sha(data), "size": len(data)},
        },
    ]
    r = httpx.post(
        f"{srv.url}/api/models/{repo}/commit/main",
        content="\n".join(json.dumps(x) for x in lines),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code == 200, r.text


class SlowPut:
    """A PUT whose body sends ``first`` bytes, then waits for ``release``, then the rest.
    ``length`` announces another Content-Length (the client then fails, short)."""

    def __init__(self, url: str, first: bytes, rest: bytes, length: int | None = None) -> None:
        self.sent = threading.Event()
        self.release = threading.Event()
        self.response: httpx.Response | None = None
        self.error: BaseException | None = None

        def body() -> Iterator[bytes]:
            yield first
            self.sent.set()
            self.release.wait(60)
            yield rest

        def run() -> None:
            try:
                self.response = httpx.put(
                    url,
                    content=body(),
                    headers={"Content-Length": str(length or len(first) + len(rest))},
                    timeout=60,
                )
            except Exception as exc:  # also h11's, for a body shorter than announced
                self.error = exc

        self.thread = threading.Thread(target=run)
        self.thread.start()
        assert self.sent.wait(30)
        time.sleep(0.5)  # the server has the request, and part of its body

    def finish(self) -> httpx.Response:
        response = self.end()
        assert response is not None, self.error
        return response

    def end(self) -> httpx.Response | None:
        self.release.set()
        self.thread.join(60)
        return self.response


def _fsck(srv: Server, *args: str) -> tuple[int, str]:
    result = srv.cli("fsck", *args, check=False)
    return result.returncode, result.stdout + result.stderr


def _put_parts(
    upload: dict[str, Any], data: bytes, numbers: list[int] | None = None
) -> list[dict[str, Any]]:
    """PUT the parts (in order unless ``numbers`` says otherwise); the completion's list."""
    parts = _parts(upload)
    etags = []
    for number in numbers or sorted(parts):
        r = httpx.put(parts[number], content=data[(number - 1) * CHUNK : number * CHUNK])
        assert r.status_code == 200, r.text
        etags.append({"partNumber": number, "etag": r.headers["etag"]})
    return etags


def _complete(upload: dict[str, Any], data: bytes, etags: list[dict[str, Any]]) -> httpx.Response:
    return httpx.post(upload["href"], json={"oid": _sha(data), "parts": etags})


def test_a_late_part_cannot_poison_the_store(srv: Server, repo_name: str) -> None:
    """The attack: a slow second PUT of part 1 that outlives the completion."""
    alice, bob = srv.user("alice"), srv.user("bob")
    HfApi(endpoint=srv.url, token=alice).create_repo(f"alice/{repo_name}")
    HfApi(endpoint=srv.url, token=bob).create_repo(f"bob/{repo_name}")
    data = os.urandom(2 * CHUNK + 12345)  # three parts
    oid = _sha(data)
    upload = _batch(srv, f"alice/{repo_name}", alice, data)["actions"]["upload"]
    etags = _put_parts(upload, data)  # in order, as the stock client sends them
    junk = os.urandom(CHUNK)
    slow = SlowPut(_parts(upload)[1], junk[: 64 * 1024], junk[64 * 1024 :])
    done = _complete(upload, data, etags)
    assert done.status_code == 200, done.text
    late = slow.finish()
    assert late.status_code == 409, late.text  # refused: the upload is complete
    assert "completed" in late.headers["x-error-message"]
    # A new request for a part of the completed upload is refused up front.
    again = httpx.put(_parts(upload)[2], content=data[CHUNK : 2 * CHUNK])
    assert again.status_code == 409

    assert _sha(_stored(srv, oid) or b"") == oid
    _commit_lfs(srv, f"alice/{repo_name}", alice, "x.bin", data)
    served = httpx.get(f"{srv.url}/alice/{repo_name}/resolve/main/x.bin")
    assert served.status_code == 200 and served.content == data
    assert served.headers["x-linked-etag"] == f'"{oid}"'

    # Another user's genuine upload of the same object to another repository.
    bob_obj = _batch(srv, f"bob/{repo_name}", bob, data)
    assert "actions" in bob_obj  # not linked to bob's repository: he must send it
    bob_upload = bob_obj["actions"]["upload"]
    r = _complete(bob_upload, data, _put_parts(bob_upload, data))
    assert r.status_code == 200, r.text
    _commit_lfs(srv, f"bob/{repo_name}", bob, "y.bin", data)
    got = hf_hub_download(f"bob/{repo_name}", "y.bin", endpoint=srv.url, token=bob)
    assert Path(got).read_bytes() == data
    code, out = _fsck(srv)
    assert code == 0, out
    assert "0 corrupt" in out and "0 missing" in out


def test_completion_while_a_part_is_still_written_is_refused(srv: Server, repo_name: str) -> None:
    """A part still being received into the object when the completion comes: the
    completion refuses (409), the part is refused too, nothing is stored, and the
    client can start the upload again."""
    alice = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=alice).create_repo(repo)
    data = os.urandom(2 * CHUNK + 999)
    upload = _batch(srv, repo, alice, data)["actions"]["upload"]
    etags = _put_parts(upload, data, [1, 2])
    last = data[2 * CHUNK :]
    slow = SlowPut(_parts(upload)[3], last[:100], last[100:])  # in order: into the object
    third = {"partNumber": 3, "etag": etags[0]["etag"][:-2] + '3"'}
    early = _complete(upload, data, [*etags, third])
    if getattr(srv, "s3", None) is None:
        assert early.status_code == 409, early.text
        assert "still being received" in early.headers["x-error-message"]
    else:  # a part is an object once it has all arrived: this one is not there yet
        assert early.status_code == 400, early.text
        assert "not received" in early.headers["x-error-message"]
    assert slow.finish().status_code == 409
    assert _stored(srv, _sha(data)) is None
    assert _complete(upload, data, [*etags, third]).status_code == 409  # closed for good
    fresh = _batch(srv, repo, alice, data)["actions"]["upload"]
    assert _complete(fresh, data, _put_parts(fresh, data)).status_code == 200
    _commit_lfs(srv, repo, alice, "z.bin", data)
    assert httpx.get(f"{srv.url}/{repo}/resolve/main/z.bin").content == data


@pytest.mark.parametrize("order", [[3, 1, 2], [2, 3, 1], [1, 1, 2, 2, 3], [1, 3, 2]])
def test_parts_in_any_order_and_repeated(srv: Server, repo_name: str, order: list[int]) -> None:
    alice = srv.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=srv.url, token=alice).create_repo(repo)
    data = os.urandom(2 * CHUNK + 4321)
    upload = _batch(srv, repo, alice, data)["actions"]["upload"]
    etags = {e["partNumber"]: e for e in _put_parts(upload, data, order)}
    done = _complete(upload, data, list(etags.values()))
    assert done.status_code == 200, done.text
    _commit_lfs(srv, repo, alice, "o.bin", data)
    assert httpx.get(f"{srv.url}/{repo}/resolve/main/o.bin").content == data
    store = getattr(srv, "s3", None)
    if store is None:
        staging = srv.data_dir / "blobs" / "staging"
        assert not [p for p in staging.iterdir() if p.is_dir()]  # the parts are gone
    else:
        listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=store.prefix)
        assert not [o for o in listed["Contents"] if "/part-" in o["Key"]]


def test_completion_repeated_and_for_parts_never_sent(srv: Server, repo_name: str) -> None:
    """A completion sent again after success answers 200 again; one that failed does
    not become a way to link an object stored by someone else."""
    alice, mallory = srv.user("alice"), srv.user("mallory")
    HfApi(endpoint=srv.url, token=alice).create_repo(f"alice/{repo_name}", private=True)
    HfApi(endpoint=srv.url, token=mallory).create_repo(f"mallory/{repo_name}")
    data = os.urandom(CHUNK + 10)
    upload = _batch(srv, f"alice/{repo_name}", alice, data)["actions"]["upload"]
    etags = _put_parts(upload, data)
    assert _complete(upload, data, etags).status_code == 200
    assert _complete(upload, data, etags).status_code == 200  # a client's retry
    # Mallory knows the hash of Alice's private object; she sends one part of junk
    # (which tells her how etags look) and completes without the other.
    theirs = _batch(srv, f"mallory/{repo_name}", mallory, data)["actions"]["upload"]
    r = httpx.put(_parts(theirs)[1], content=os.urandom(CHUNK))
    fake = [{"partNumber": n, "etag": r.headers["etag"][:-2] + f'{n}"'} for n in (1, 2)]
    first = _complete(theirs, data, fake)
    assert first.status_code == 400 and "not received" in first.headers["x-error-message"]
    assert _complete(theirs, data, fake).status_code == 409
    r = httpx.post(
        f"{srv.url}/api/models/mallory/{repo_name}/commit/main",
        headers={"Authorization": f"Bearer {mallory}"},
        content="\n".join(
            json.dumps(x)
            for x in [
                {"key": "header", "value": {"summary": "steal"}},
                {"key": "lfsFile", "value": {"path": "s.bin", "algo": "sha256", "oid": _sha(data)}},
            ]
        ),
    )
    assert r.status_code == 422


def _disk_use(folder: Path) -> int:
    """Bytes of disk actually allocated to the files under ``folder``."""
    total = 0
    for path in folder.rglob("*"):
        with contextlib.suppress(FileNotFoundError):
            if path.is_file():
                total += path.stat().st_blocks * 512
    return total


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 10
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _default_part_bytes() -> int:
    [field] = [f for f in dataclasses.fields(Settings) if f.name == "multipart_chunk_bytes"]
    assert isinstance(field.default, int)
    return field.default


def test_uploads_allocate_disk_only_as_bytes_arrive(server: Server, repo_name: str) -> None:
    """A client that announces a large object and sends 100 KiB holds 100 KiB, not
    the object's or a part's size: the basic PUT and a multipart part alike."""
    token = server.user("alice")
    repo = f"alice/{repo_name}"
    HfApi(endpoint=server.url, token=token).create_repo(repo)
    staging = server.data_dir / "blobs" / "staging"
    part = _default_part_bytes()
    for size, multipart in ((part, False), (part + 1, True)):  # as large as a basic PUT gets
        announced = os.urandom(1024) * (size // 1024) + b"x" * (size % 1024)
        upload = _batch(server, repo, token, announced)["actions"]["upload"]
        assert ("header" in upload) is multipart
        url = _parts(upload)[1] if multipart else upload["href"]
        slow = SlowPut(url, os.urandom(100 * 1024), b"", length=part)
        _wait_for(
            lambda: any(p.is_file() for p in staging.rglob("*")),
            "the upload never reached the staging folder",
        )
        used = _disk_use(staging)
        assert used < 8 * MiB, f"{used} bytes of disk held for 100 KiB received"
        assert slow.end() is None  # the client gives up, most of it short
        _wait_for(lambda: _disk_use(staging) == 0, "the interrupted upload left bytes behind")


def test_fsck_finds_and_quarantines_corrupt_blobs(
    srv: Server, repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    """Bytes changed behind the hub's back: fsck reports them, --repair moves them
    aside, the hub refuses to serve them, and uploading the files again heals them."""
    token = srv.user("alice")
    api = HfApi(endpoint=srv.url, token=token)
    repo = f"alice/{repo_name}"
    api.create_repo(repo)
    big, small = os.urandom(2 * MiB + 5), b"a small regular file\n"
    (tmp_path / "big.bin").write_bytes(big)
    (tmp_path / "small.txt").write_bytes(small)
    api.upload_folder(repo_id=repo, folder_path=tmp_path)
    siblings = {s.rfilename: s for s in api.model_info(repo, files_metadata=True).siblings or []}
    assert siblings["big.bin"].lfs is not None and siblings["small.txt"].lfs is None
    code, out = _fsck(srv)
    assert code == 0, out

    # Plant other bytes of the same size under the big file's name, and flip a
    # byte of the small one.
    _plant(srv, _sha(big), os.urandom(len(big)))
    _plant(srv, _sha(small), b"A" + small[1:])
    code, out = _fsck(srv)
    assert code == 1, out
    assert f"CORRUPT {_sha(big)}" in out and f"CORRUPT {_sha(small)}" in out
    assert "2 corrupt" in out and "--repair" in out
    assert _stored(srv, _sha(big)) is not None  # a check alone changes nothing

    code, out = _fsck(srv, "--repair")
    assert code == 1, out
    assert "Quarantined 2 blobs" in out
    assert _quarantined(srv) == {_sha(big), _sha(small)}
    for name in ("big.bin", "small.txt"):
        r = httpx.get(f"{srv.url}/{repo}/resolve/main/{name}")
        assert r.status_code == 410, r.status_code
        assert r.headers["x-error-code"] == "ContentUnavailable"
        with pytest.raises(Exception) as refused:  # the client: no cached copy to fall back on
            hf_hub_download(repo, name, endpoint=srv.url, token=token, cache_dir=tmp_path / name)
        cause = refused.value.__cause__
        assert isinstance(cause, HfHubHTTPError) and "integrity check" in str(cause)
    code, out = _fsck(srv)
    assert code == 1 and "2 missing" in out and f"MISSING {_sha(big)}" in out, out

    # The owner uploads the same files again: the hub asks for the bytes (it does not
    # answer "already there") and stores good ones.
    api.upload_folder(repo_id=repo, folder_path=tmp_path)
    for name, data in (("big.bin", big), ("small.txt", small)):
        got = hf_hub_download(repo, name, endpoint=srv.url, token=token, force_download=True)
        assert Path(got).read_bytes() == data
    code, out = _fsck(srv)
    assert code == 0, out
