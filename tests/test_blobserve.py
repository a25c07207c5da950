"""Serving blobs from an object store (``api/blobserve.py``): streamed with ranges
through the hub, or, with ``download_redirect``, a 302 to a presigned URL of the
store after every access check. Real ``commons serve`` processes on moto's S3 server
(tests/s3.py) and the real ``huggingface_hub`` client."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import HfApi, hf_hub_download, snapshot_download
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

from .conftest import Server, s3_server
from .s3 import S3Target

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def streamed(s3: S3Target) -> Iterator[Server]:
    """Blobs in S3, sent through the hub."""
    srv = s3_server(s3, regular_upload_max_bytes=MiB, multipart_chunk_bytes=5 * MiB)
    srv.start()
    yield srv
    srv.close()


@pytest.fixture(scope="module")
def redirected(s3: S3Target) -> Iterator[Server]:
    """Blobs in S3, LFS files handed out as presigned URLs."""
    srv = s3_server(
        s3,
        "postgresql",
        regular_upload_max_bytes=MiB,
        multipart_chunk_bytes=5 * MiB,
        download_redirect="true",
    )
    srv.start()
    yield srv
    srv.close()


def _populate(srv: Server, repo: str, tmp_path: Path, *, private: bool = False) -> dict[str, bytes]:
    api = HfApi(endpoint=srv.url, token=srv.user("alice"))
    api.create_repo(repo, private=private)
    tmp_path.mkdir(parents=True, exist_ok=True)
    files = {
        "config.json": b'{"v": 1}',
        "weights.bin": os.urandom(11 * MiB + 17),  # LFS, three multipart parts
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    api.upload_folder(repo_id=repo, folder_path=tmp_path)
    return files


def test_the_client_uploads_and_downloads_through_the_hub(
    streamed: Server, repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    repo = f"alice/{repo_name}"
    files = _populate(streamed, repo, tmp_path / "up")
    got = snapshot_download(repo, endpoint=streamed.url, cache_dir=tmp_path / "cache")
    for name, data in files.items():
        assert (Path(got) / name).read_bytes() == data
    siblings = HfApi(endpoint=streamed.url).model_info(repo, files_metadata=True).siblings or []
    lfs = {s.rfilename: s.lfs for s in siblings}
    assert lfs["weights.bin"] is not None and lfs["config.json"] is None


def test_ranges_from_the_store(
    streamed: Server, repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    repo = f"alice/{repo_name}"
    data = _populate(streamed, repo, tmp_path)["weights.bin"]
    url = f"{streamed.url}/{repo}/resolve/main/weights.bin"
    head = httpx.head(url)
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert head.headers["x-linked-etag"] == f'"{hashlib.sha256(data).hexdigest()}"'
    assert head.headers["accept-ranges"] == "bytes"
    for asked, first, last in (
        ("bytes=5-9", 5, 9),
        ("bytes=-7", len(data) - 7, len(data) - 1),
        (f"bytes={len(data) - 3}-", len(data) - 3, len(data) - 1),
        (f"bytes=10-{len(data) + 100}", 10, len(data) - 1),
    ):
        part = httpx.get(url, headers={"Range": asked})
        assert part.status_code == 206, (asked, part.status_code)
        assert part.content == data[first : last + 1]
        assert part.headers["content-range"] == f"bytes {first}-{last}/{len(data)}"
    past = httpx.get(url, headers={"Range": f"bytes={len(data)}-"})
    assert past.status_code == 416 and past.headers["content-range"] == f"bytes */{len(data)}"
    whole = httpx.get(url + "?download=true")
    assert whole.content == data
    assert whole.headers["content-disposition"] == 'attachment; filename="weights.bin"'


def test_redirect_to_the_store_after_the_checks(
    redirected: Server, repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    srv = redirected
    repo = f"alice/{repo_name}"
    files = _populate(srv, repo, tmp_path / "up", private=True)
    alice = srv.user("alice")
    auth = {"Authorization": f"Bearer {alice}"}
    url = f"{srv.url}/{repo}/resolve/main/weights.bin"
    data = files["weights.bin"]
    sha = hashlib.sha256(data).hexdigest()
    for method in ("HEAD", "GET"):
        moved = httpx.request(method, url, headers=auth)
        assert moved.status_code == 302, (method, moved.status_code)
        assert moved.headers["x-linked-etag"] == f'"{sha}"' == moved.headers["etag"]
        assert moved.headers["x-linked-size"] == str(len(data))
        assert len(moved.headers["x-repo-commit"]) == 40
        location = moved.headers["location"]
        assert location.startswith(srv.env["COMMONS_S3_ENDPOINT_URL"])
        assert "X-Amz-Expires=300" in location and "X-Amz-Signature=" in location
    # The presigned URL is the object itself, ranges and all, without the hub.
    assert httpx.get(location).content == data
    assert httpx.get(location, headers={"Range": "bytes=0-9"}).content == data[:10]
    # Small (not LFS) files are served by the hub as before.
    small = httpx.get(f"{srv.url}/{repo}/resolve/main/config.json", headers=auth)
    assert small.status_code == 200 and small.content == files["config.json"]

    # The stock client follows the redirect.
    got = snapshot_download(repo, endpoint=srv.url, token=alice, cache_dir=tmp_path / "c")
    for name, content in files.items():
        assert (Path(got) / name).read_bytes() == content
    one = hf_hub_download(
        repo, "weights.bin", endpoint=srv.url, token=alice, cache_dir=tmp_path / "d"
    )
    assert Path(one).read_bytes() == data

    # Refused callers never see a URL of the store.
    stranger = srv.user("mallory")
    for headers in ({}, {"Authorization": f"Bearer {stranger}"}):
        for method in ("HEAD", "GET"):
            refused = httpx.request(method, url, headers=headers)
            assert refused.status_code in (401, 404), refused.status_code
            assert "location" not in refused.headers
            assert "amz" not in refused.text.lower()
    with pytest.raises(RepositoryNotFoundError):
        hf_hub_download(
            repo, "weights.bin", endpoint=srv.url, token=stranger, cache_dir=tmp_path / "e"
        )


def test_gated_files_redirect_only_once_access_is_granted(
    redirected: Server, repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    srv = redirected
    repo = f"alice/{repo_name}"
    _populate(srv, repo, tmp_path / "up")
    HfApi(endpoint=srv.url, token=srv.user("alice")).update_repo_settings(repo, gated="manual")
    bob = srv.user("bob")
    url = f"{srv.url}/{repo}/resolve/main/weights.bin"
    refused = httpx.get(url, headers={"Authorization": f"Bearer {bob}"})
    assert refused.status_code == 403 and "location" not in refused.headers
    with pytest.raises(GatedRepoError):
        hf_hub_download(repo, "weights.bin", endpoint=srv.url, token=bob, cache_dir=tmp_path / "g")


def test_lfs_batch_download_redirects_too(
    redirected: Server, repo_name: str, tmp_path: Path, hf_env: None
) -> None:
    srv = redirected
    repo = f"alice/{repo_name}"
    data = _populate(srv, repo, tmp_path / "up", private=True)["weights.bin"]
    alice = srv.user("alice")
    sha = hashlib.sha256(data).hexdigest()
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers={"Authorization": f"Bearer {alice}"},
        json={"operation": "download", "objects": [{"oid": sha, "size": len(data)}]},
    ).json()
    href = batch["objects"][0]["actions"]["download"]["href"]
    moved = httpx.get(href)
    assert moved.status_code == 302
    assert httpx.get(moved.headers["location"]).content == data
