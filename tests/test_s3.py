"""The S3 blob store (``storage/s3.py``, ``storage/s3parts.py``) against a real S3
wire protocol: moto's standalone server over HTTP with SigV4, or a real store when
COMMONS_TEST_S3_URL is set (tests/s3.py). Nothing is patched in this process."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import pytest

from modelcommons.errors import BadRequest
from modelcommons.storage.multipart import UploadClosed
from modelcommons.storage.s3 import S3BlobStore, S3Location

from .s3 import S3Target

MiB = 1024 * 1024


@pytest.fixture()
def store(s3: S3Target, tmp_path: Path) -> S3BlobStore:
    return s3.store(tmp_path / "scratch")


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _store(blobs: S3BlobStore, data: bytes) -> str:
    staged = blobs.stage()
    staged.write(data)
    sha = staged.sha256()
    blobs.promote(staged, sha)
    return sha


def _read(blobs: S3BlobStore, sha: str) -> bytes:
    with blobs.open(sha) as f:
        return f.read()


def _plant(blobs: S3BlobStore, sha: str, data: bytes) -> None:
    """Bytes put under a name behind the hub's back (a disk, an operator)."""
    blobs.client.put_object(Bucket=blobs.bucket, Key=blobs.key(sha), Body=data)


def test_locations_parse() -> None:
    assert S3Location.parse("s3://b") == S3Location("b", "")
    assert S3Location.parse("s3://b/a/c/") == S3Location("b", "a/c/")
    for bad in ("http://b/x", "s3:///x", "/tmp/x"):
        with pytest.raises(ValueError):
            S3Location.parse(bad)


def test_small_and_multipart_objects_round_trip(store: S3BlobStore) -> None:
    """Below and above a part (16 MiB, the hub's multipart upload), and empty."""
    for data in (b"", b"small bytes", os.urandom(16 * MiB + 1234)):
        sha = _store(store, data)
        assert store.exists(sha) and store.size(sha) == len(data)
        assert _read(store, sha) == data
        if data:
            assert b"".join(store.read_range(sha, 3, 9, 4)) == data[3:10]
    assert not list(store.staging.iterdir())  # scratch files are gone
    listed = {o.sha256: o.size for batch in store.list_objects() for o in batch}
    assert listed[_sha(b"small bytes")] == len(b"small bytes")
    assert len(listed) == 3
    # Nothing is left half-done in the bucket: no multipart upload still open.
    open_uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    assert open_uploads.get("Uploads", []) == []


def test_bytes_that_do_not_hash_to_the_name_are_never_visible(store: S3BlobStore) -> None:
    for data in (b"claims to be something else", os.urandom(16 * MiB + 1)):
        staged = store.stage()
        staged.write(data)
        wrong = _sha(b"other" + data)
        with pytest.raises(ValueError):
            store.promote(staged, wrong)
        assert not store.exists(wrong)
    open_uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    assert open_uploads.get("Uploads", []) == []


def test_a_stored_object_is_never_replaced(store: S3BlobStore) -> None:
    """If-None-Match: the name exists, so the stored bytes stay (even bad ones: fsck's
    job), and the upload's bytes are dropped."""
    data = b"the genuine bytes"
    sha = _sha(data)
    _plant(store, sha, b"planted")
    assert _store(store, data) == sha
    assert _read(store, sha) == b"planted"
    # The conditional write itself, racing a store that appeared after the check.
    sending = store.sending(sha)
    sending.feed(data)
    assert sending.commit() is False
    assert _read(store, sha) == b"planted"


def test_collection_keeps_what_a_promote_refreshed(store: S3BlobStore) -> None:
    sha = _store(store, b"old bytes")
    assert store.remove_if_older(sha, time.time() - 3600) is None  # young: kept
    cutoff = time.time()
    time.sleep(1.1)  # S3 times have one-second steps
    assert _store(store, b"old bytes") == sha  # an upload reuses it: refreshed
    assert store.remove_if_older(sha, cutoff) is None
    assert store.exists(sha)
    assert store.remove_if_older(sha, time.time() + 5) == len(b"old bytes")
    assert not store.exists(sha)
    assert store.remove_if_older(sha, time.time() + 5) is None  # already gone
    _store(store, b"old bytes")  # stored again after collection: its own copy
    assert _read(store, sha) == b"old bytes"


def test_a_blob_set_aside_by_an_interrupted_collection_comes_back(store: S3BlobStore) -> None:
    sha = _store(store, b"interrupted")
    doomed = f"{store.prefix}gc/{sha}.abcd1234"
    store.client.copy_object(
        Bucket=store.bucket, Key=doomed, CopySource={"Bucket": store.bucket, "Key": store.key(sha)}
    )
    store.client.delete_object(Bucket=store.bucket, Key=store.key(sha))
    assert not store.exists(sha)
    store.cleanup_staging(older_than_seconds=3600)
    assert _read(store, sha) == b"interrupted"
    listed = store.client.list_objects_v2(Bucket=store.bucket, Prefix=f"{store.prefix}gc/")
    assert listed.get("KeyCount", 0) == 0


def test_quarantine_moves_a_blob_out_of_sight(store: S3BlobStore) -> None:
    sha = _store(store, b"going away")
    where = store.quarantine(sha)
    assert where is not None and "/quarantine/" in where
    assert not store.exists(sha)
    with pytest.raises(FileNotFoundError):
        store.open(sha)
    assert store.quarantine(sha) is None


def test_multipart_parts_from_any_process(store: S3BlobStore, s3: S3Target, tmp_path: Path) -> None:
    """Parts received by different stores (replicas: each its own scratch folder),
    out of order and one sent twice; the completion verifies the whole."""
    other = S3BlobStore(S3Location(store.bucket, store.prefix), s3.client(), tmp_path / "b")
    chunk = 5 * MiB
    data = os.urandom(2 * chunk + 777)
    oid = _sha(data)
    upload_id = f"{oid}-0123456789abcdef"
    for n, replica in ((3, store), (1, other), (2, store), (1, store)):
        part = replica.multipart(upload_id).open_part(n, (n - 1) * chunk)
        part.writev([data[(n - 1) * chunk : n * chunk]])
        part.finish()
    upload = other.multipart(upload_id)
    assert upload.close() and not store.multipart(upload_id).close()  # one closes it
    with pytest.raises(UploadClosed):
        store.multipart(upload_id).open_part(2, chunk)
    staged, sha, size = upload.assemble(len(data), chunk)
    assert (sha, size) == (oid, len(data))
    assert not store.exists(oid)  # not visible before promote
    other.promote(staged, oid)
    upload.mark_stored()
    upload.remove()
    assert _read(store, oid) == data and store.multipart(upload_id).stored()
    listed = store.client.list_objects_v2(
        Bucket=store.bucket, Prefix=f"{store.prefix}uploads/{upload_id}/"
    )
    assert listed.get("KeyCount", 0) == 0


def test_multipart_with_wrong_or_missing_parts_stores_nothing(store: S3BlobStore) -> None:
    chunk = 5 * MiB
    data = os.urandom(chunk + 10)
    oid = _sha(data)
    upload = store.multipart(f"{oid}-00000000000000aa")
    part = upload.open_part(1, 0)
    part.writev([os.urandom(chunk)])  # not the announced bytes
    part.finish()
    upload.close()
    with pytest.raises(BadRequest, match="not received"):
        upload.assemble(len(data), chunk)
    part = store.multipart(f"{oid}-00000000000000bb").open_part(2, chunk)
    part.writev([data[chunk:]])
    part.finish()
    wrong = store.multipart(f"{oid}-00000000000000bb")
    part = wrong.open_part(1, 0)
    part.writev([os.urandom(chunk)])
    part.finish()
    wrong.close()
    staged, sha, _ = wrong.assemble(len(data), chunk)
    assert sha != oid
    with pytest.raises(ValueError):
        store.promote(staged, oid)
    assert not store.exists(oid)
    open_uploads = store.client.list_multipart_uploads(Bucket=store.bucket, Prefix=store.prefix)
    assert open_uploads.get("Uploads", []) == []


def test_gc_and_fsck_on_a_hub_in_s3(s3: S3Target, tmp_path: Path, hf_env: None) -> None:
    """`commons gc` collects what a deleted repository left in the bucket, and keeps
    what another repository still uses; `commons fsck` then finds nothing amiss."""
    from huggingface_hub import HfApi

    from .conftest import s3_server

    srv = s3_server(s3, regular_upload_max_bytes=MiB)
    srv.start()
    try:
        api = HfApi(endpoint=srv.url, token=srv.user("alice"))
        kept, dropped = os.urandom(2 * MiB), os.urandom(2 * MiB + 1)
        for name, data in (("keep", kept), ("drop", dropped)):
            api.create_repo(f"alice/{name}")
            api.upload_file(path_or_fileobj=data, path_in_repo="w.bin", repo_id=f"alice/{name}")
        api.delete_repo("alice/drop")
        store = srv.s3  # type: ignore[attr-defined]
        assert store.exists(_sha(dropped))
        time.sleep(1.1)  # S3 times have one-second steps; the grace period is 0
        out = srv.cli("gc", "--grace-hours", "0", process=True).stdout
        assert "Removed 1 unreferenced blob" in out, out
        assert not store.exists(_sha(dropped)) and store.exists(_sha(kept))
        fsck = srv.cli("fsck", process=True, check=False)
        assert fsck.returncode == 0 and "0 corrupt, 0 missing" in fsck.stdout, fsck.stdout
    finally:
        srv.close()


def test_a_blob_in_the_store_is_scanned_whole(store: S3BlobStore) -> None:
    """The scanners seek (a tar header at 257, a joblib stream again); the store's
    stream does not, so the scan works on a copy, and finds what is there."""
    import pickle

    from modelcommons.scanning.store import scan_blob

    class Evil:
        def __reduce__(self) -> tuple[object, tuple[str]]:
            return (os.system, ("true",))

    data = pickle.dumps([Evil(), b"x" * 4096])
    sha = _store(store, data)
    report, _ = scan_blob(store, sha, "model.pkl", len(data))
    assert not [f.message for f in report.findings if "scanner failed" in f.message]
    assert report.status == "unsafe"


def test_parts_go_straight_to_the_store(s3: S3Target, tmp_path: Path, hf_env: None) -> None:
    """``upload_presigned_parts``: the batch hands out presigned PUT URLs of the store;
    the real client sends its parts there, and the hub still checks the whole: bytes
    that do not hash to the oid are never stored."""
    import httpx
    from huggingface_hub import HfApi, hf_hub_download

    from .conftest import s3_server

    chunk = 5 * 1024 * 1024
    srv = s3_server(
        s3,
        upload_presigned_parts="true",
        regular_upload_max_bytes=1024 * 1024,
        multipart_chunk_bytes=chunk,
    )
    try:
        srv.start()
        token = srv.user("alice")
        api = HfApi(endpoint=srv.url, token=token)
        api.create_repo("alice/direct")
        data = os.urandom(2 * chunk + 7)
        (tmp_path / "w.bin").write_bytes(data)
        api.upload_file(
            path_or_fileobj=tmp_path / "w.bin", path_in_repo="w.bin", repo_id="alice/direct"
        )
        got = hf_hub_download(
            "alice/direct", "w.bin", endpoint=srv.url, token=token, cache_dir=tmp_path / "c"
        )
        assert Path(got).read_bytes() == data

        bad = os.urandom(chunk + 1)
        oid = _sha(bad)
        auth = {"Authorization": f"Bearer {token}"}
        batch = httpx.post(
            f"{srv.url}/alice/direct.git/info/lfs/objects/batch",
            headers=auth,
            json={
                "operation": "upload",
                "transfers": ["multipart"],
                "objects": [{"oid": oid, "size": len(bad)}],
            },
        ).json()
        upload = batch["objects"][0]["actions"]["upload"]
        assert upload["header"]["1"].startswith(str(s3.endpoint or "https://"))
        etags = []
        for number, body in ((1, bad[:chunk]), (2, b"X")):  # part 2 is not what was hashed
            r = httpx.put(upload["header"][str(number)], content=body)
            assert r.status_code == 200, r.text
            etags.append({"partNumber": number, "etag": r.headers["etag"]})
        done = httpx.post(upload["href"], json={"oid": oid, "parts": etags})
        assert done.status_code in (400, 422), done.text
        assert not srv.s3.exists(oid)  # type: ignore[attr-defined]
    finally:
        srv.close()
