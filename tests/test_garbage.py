"""`commons gc`: what deleted repositories leave behind goes; everything else stays."""

from __future__ import annotations

import hashlib
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from huggingface_hub import CommitOperationAdd, HfApi, hf_hub_download
from sqlalchemy import create_engine, select

from modelcommons.db.pipeline_tables import BlobScan

from .conftest import Server
from .test_pipeline import wait_scanned

MB = 1000 * 1000


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def gc_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A hub of its own (collection is hub-wide) that sends files over 1 MB through LFS."""
    srv = Server(request.param, regular_upload_max_bytes=MB)
    srv.start()
    yield srv
    srv.close()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _blob(srv: Server, data: bytes) -> Path:
    sha = _sha(data)
    return srv.data_dir / "blobs" / "objects" / sha[:2] / sha[2:4] / sha


def _age(path: Path, hours: float) -> None:
    then = time.time() - hours * 3600
    os.utime(path, (then, then))


def _numbers(out: str, verb: str) -> tuple[int, int]:
    """(blobs, bytes) from the "<verb> N unreferenced blob(s): B bytes" line."""
    match = re.search(rf"{verb} (\d+) unreferenced blobs?: (\d+) bytes", out)
    assert match, out
    return int(match[1]), int(match[2])


def _rows(out: str, verb: str) -> int:
    match = re.search(rf"{verb} (\d+) rows? no repository needs", out)
    assert match, out
    return int(match[1])


def _scan_results(srv: Server, datas: list[bytes]) -> set[str]:
    """The sha256s among ``datas``' that have a row in ``blob_scans``."""
    engine = create_engine(srv.pg.url if srv.pg else f"sqlite:///{srv.data_dir}/commons.db")
    with engine.connect() as conn:
        found = set(
            conn.scalars(
                select(BlobScan.sha256).where(BlobScan.sha256.in_([_sha(d) for d in datas]))
            )
        )
    engine.dispose()
    return found


def _upload_lfs_only(srv: Server, repo: str, token: str, data: bytes) -> None:
    """An LFS upload (batch, PUT, verify) that no commit references yet."""
    auth = {"Authorization": f"Bearer {token}"}
    obj = {"oid": _sha(data), "size": len(data)}
    batch = httpx.post(
        f"{srv.url}/{repo}.git/info/lfs/objects/batch",
        headers=auth,
        json={"operation": "upload", "objects": [obj]},
    ).json()
    actions = batch["objects"][0]["actions"]
    assert httpx.put(actions["upload"]["href"], content=data).status_code == 200
    assert httpx.post(actions["verify"]["href"], headers=auth, json=obj).status_code == 200


def test_gc_removes_only_what_deleted_repositories_left(
    gc_server: Server, repo_name: str, hf_env: None
) -> None:
    srv = gc_server
    token = srv.user("alice")
    api = HfApi(endpoint=srv.url, token=token)
    keep, gone = f"alice/{repo_name}-keep", f"alice/{repo_name}-gone"
    shared_big, shared_small = os.urandom(MB + 1), b'{"shared": "config"}\n'
    gone_big, gone_small = os.urandom(MB + 2), b"only the deleted repository had this\n"
    v1, v2 = b"version one\n", b"version two\n"
    pending = os.urandom(MB + 3)  # uploaded to keep, not committed yet
    for repo in (keep, gone):
        api.create_repo(repo)
        files = {"shared.dat": shared_big, "config.json": shared_small}
        if repo == gone:
            files |= {"unique.dat": gone_big, "notes/unique.txt": gone_small}
        api.create_commit(
            repo,
            [CommitOperationAdd(path, data) for path, data in files.items()],
            commit_message="add files",
        )
    first = api.upload_file(path_or_fileobj=v1, path_in_repo="history.txt", repo_id=keep)
    api.upload_file(path_or_fileobj=v2, path_in_repo="history.txt", repo_id=keep)
    _upload_lfs_only(srv, keep, token, pending)
    siblings = {s.rfilename: s for s in api.model_info(gone, files_metadata=True).siblings or []}
    assert siblings["unique.dat"].lfs is not None and siblings["notes/unique.txt"].lfs is None
    # The commit added .gitattributes lines for the LFS files no pattern covered: the
    # deleted repository's version of it is its own, and goes too.
    attributes = Path(hf_hub_download(gone, ".gitattributes", endpoint=srv.url, token=token))
    gone_attributes = attributes.read_bytes()
    assert b"\n/unique.dat filter=lfs" in gone_attributes
    for repo in (keep, gone):
        assert wait_scanned(api, repo).security_repo_status["scansDone"]
    api.delete_repo(gone)

    survivors = [shared_big, shared_small, v1, v2, pending]
    doomed = [gone_big, gone_small, gone_attributes]
    for data in survivors + doomed:
        assert _blob(srv, data).exists()
        _age(_blob(srv, data), 48)  # as if all of it had been uploaded two days ago
    _age(_blob(srv, gone_small), 1)  # ... but this one an hour ago

    # A dry run reports both (no grace period) and removes nothing.
    out = srv.cli("gc", "--dry-run", "--grace-hours", "0").stdout
    assert "nothing was removed" in out
    assert _numbers(out, "Would remove") == (3, sum(map(len, doomed)))
    assert _rows(out, "Would drop") > 0
    assert "3 scan results" in out  # the doomed blobs'
    assert all(_blob(srv, data).exists() for data in survivors + doomed)
    scanned = [shared_big, shared_small, v1, v2]
    assert len(_scan_results(srv, scanned + doomed)) == 7

    # By default blobs younger than 24 hours stay: an upload may be about to use them.
    out = srv.cli("gc").stdout
    assert _numbers(out, "Removed") == (2, len(gone_big) + len(gone_attributes))
    assert "Kept 1 unreferenced blob younger than 24 hours" in out
    assert _rows(out, "Dropped") > 0
    assert not _blob(srv, gone_big).exists() and _blob(srv, gone_small).exists()
    # Scan results go with the last reference, the kept young blob's too: a commit
    # that uses its bytes again has them scanned again.
    assert "3 scan results" in out
    assert _scan_results(srv, scanned + doomed) == {_sha(d) for d in scanned}

    out = srv.cli("gc", "--grace-hours", "0").stdout
    assert _numbers(out, "Removed") == (1, len(gone_small))
    assert _rows(out, "Dropped") == 0  # the rows went in the run before
    assert not _blob(srv, gone_small).exists()
    assert all(_blob(srv, data).exists() for data in survivors)

    # Everything of the surviving repository still downloads, history included.
    for path, data, revision in [
        ("shared.dat", shared_big, None),
        ("config.json", shared_small, None),
        ("history.txt", v2, None),
        ("history.txt", v1, first.oid),
    ]:
        got = hf_hub_download(
            keep, path, revision=revision, endpoint=srv.url, token=token, force_download=True
        )
        assert Path(got).read_bytes() == data, (path, revision)
    # The uncommitted upload is still there for a commit to use.
    r = httpx.post(
        f"{srv.url}/api/models/{keep}/commit/main",
        headers={"Authorization": f"Bearer {token}"},
        content=(
            '{"key": "header", "value": {"summary": "use the pending upload"}}\n'
            '{"key": "lfsFile", "value": {"path": "pending.dat", "algo": "sha256", '
            f'"oid": "{_sha(pending)}"}}}}\n'
        ),
    )
    assert r.status_code == 200, r.text
    got = httpx.get(f"{srv.url}/{keep}/resolve/main/pending.dat")
    assert got.content == pending

    # Nothing left to collect; and the deleted content can be uploaded anew.
    out = srv.cli("gc", "--grace-hours", "0").stdout
    assert _numbers(out, "Removed") == (0, 0) and _rows(out, "Dropped") == 0
    api.create_repo(gone)
    api.upload_file(path_or_fileobj=gone_big, path_in_repo="again.dat", repo_id=gone)
    got = hf_hub_download(gone, "again.dat", endpoint=srv.url, token=token, force_download=True)
    assert Path(got).read_bytes() == gone_big


def test_an_upload_reusing_an_old_unreferenced_blob_protects_it(
    gc_server: Server, repo_name: str, hf_env: None
) -> None:
    """Bytes stored again are young again, even before the commit that uses them."""
    srv = gc_server
    token = srv.user("alice")
    api = HfApi(endpoint=srv.url, token=token)
    repo = f"alice/{repo_name}"
    data = os.urandom(MB + 4)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=data, path_in_repo="w.dat", repo_id=repo)
    attributes = hf_hub_download(repo, ".gitattributes", endpoint=srv.url, token=token)
    api.delete_repo(repo)
    _age(_blob(srv, data), 48)
    _age(_blob(srv, Path(attributes).read_bytes()), 48)  # the commit's own .gitattributes
    api.create_repo(repo)
    _upload_lfs_only(srv, repo, token, data)  # linked, not committed: referenced
    api.delete_repo(repo)  # and now unreferenced again, but uploaded just now
    out = srv.cli("gc").stdout
    assert "Kept 1 unreferenced blob younger than 24 hours" in out
    assert _blob(srv, data).exists()
