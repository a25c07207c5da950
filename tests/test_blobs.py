"""The local blob store's listing and removal, which garbage collection relies on."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from modelcommons.storage.blobs import LocalBlobStore

DAY = 24 * 3600


def _store(blobs: LocalBlobStore, data: bytes) -> str:
    staged = blobs.stage()
    staged.write(data)
    sha = staged.sha256()
    blobs.promote(staged, sha)
    return sha


def _age(blobs: LocalBlobStore, sha: str, seconds: float) -> None:
    path = blobs.local_path(sha)
    assert path is not None
    then = time.time() - seconds
    os.utime(path, (then, then))


def test_listing_is_batched_by_fan_out_folder(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    shas = {_store(blobs, f"blob {i}".encode()) for i in range(40)}
    (blobs.objects / "ab" / "cd").mkdir(parents=True)
    (blobs.objects / "ab" / "cd" / "not-a-blob").write_text("x")
    batches = list(blobs.list_objects())
    listed = [o.sha256 for batch in batches for o in batch]
    assert sorted(listed) == listed and set(listed) == shas
    for batch in batches:
        assert len({o.sha256[:4] for o in batch}) == 1
    objects = [o for batch in batches for o in batch]
    assert sorted(o.size for o in objects) == sorted(len(f"blob {i}") for i in range(40))
    assert all(abs(o.modified - time.time()) < 60 for o in objects)


def test_remove_if_older_respects_the_cutoff(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    sha = _store(blobs, b"old bytes")
    assert blobs.remove_if_older(sha, time.time() - DAY) is None  # young: kept
    _age(blobs, sha, 2 * DAY)
    assert blobs.remove_if_older(sha, time.time() - DAY) == len(b"old bytes")
    assert not blobs.exists(sha)
    assert blobs.remove_if_older(sha, time.time()) is None  # already gone
    assert list(blobs.staging.iterdir()) == []


def test_promoting_stored_bytes_again_makes_them_young(tmp_path: Path) -> None:
    """An upload that reuses an old unreferenced blob protects it from collection."""
    blobs = LocalBlobStore(tmp_path)
    sha = _store(blobs, b"shared later")
    _age(blobs, sha, 2 * DAY)
    assert _store(blobs, b"shared later") == sha
    assert blobs.remove_if_older(sha, time.time() - DAY) is None
    assert blobs.exists(sha)
    # And once collected, the same upload stores its own copy.
    _age(blobs, sha, 2 * DAY)
    assert blobs.remove_if_older(sha, time.time() - DAY) is not None
    _store(blobs, b"shared later")
    with blobs.open(sha) as f:
        assert hashlib.sha256(f.read()).hexdigest() == sha


def test_a_blob_set_aside_by_an_interrupted_collection_comes_back(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    sha = _store(blobs, b"interrupted")
    path = blobs.local_path(sha)
    assert path is not None
    path.rename(blobs.staging / f"gc-{sha}.0123abcd")  # what remove_if_older does first
    (blobs.staging / "up-stale").write_bytes(b"x")
    os.utime(blobs.staging / "up-stale", (0, 0))
    assert blobs.cleanup_staging(older_than_seconds=3600) == 1
    assert blobs.exists(sha) and list(blobs.staging.iterdir()) == []
