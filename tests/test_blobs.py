"""The local blob store: its integrity rules, multipart assembly, and the listing and
removal that garbage collection relies on."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from modelcommons.errors import Conflict
from modelcommons.storage.blobs import LocalBlobStore
from modelcommons.storage.multipart import UploadClosed

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


def test_promote_never_replaces_stored_bytes(tmp_path: Path) -> None:
    """Whatever a caller claims, bytes stored under a name stay: the first copy wins."""
    blobs = LocalBlobStore(tmp_path)
    sha = _store(blobs, b"genuine")
    _age(blobs, sha, 2 * DAY)
    impostor = blobs.stage()
    impostor.write(b"junk of another length")
    blobs.promote(impostor, sha)
    with blobs.open(sha) as f:
        assert f.read() == b"genuine"
    assert blobs.remove_if_older(sha, time.time() - DAY) is None  # and it is young again
    assert list(blobs.staging.iterdir()) == []


def test_nothing_writes_to_a_promoted_blob(tmp_path: Path) -> None:
    """promote closes the writer's descriptor: a late write fails instead of landing."""
    blobs = LocalBlobStore(tmp_path)
    staged = blobs.stage()
    staged.write(b"complete")
    sha = staged.sha256()
    blobs.promote(staged, sha)
    with pytest.raises(ValueError, match="closed"):
        staged.append(b"late")
    with blobs.open(sha) as f:
        assert f.read() == b"complete"


def test_quarantine_moves_a_blob_out_of_the_store(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    sha = _store(blobs, b"to be doubted")
    moved = blobs.quarantine(sha)
    assert moved is not None and Path(moved).read_bytes() == b"to be doubted"
    assert Path(moved).parent == tmp_path / "quarantine"
    assert not blobs.exists(sha) and blobs.quarantine(sha) is None
    assert _store(blobs, b"to be doubted") == sha and blobs.exists(sha)  # stored anew


def test_cleanup_removes_abandoned_multipart_uploads(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    upload = blobs.multipart(f"{'a' * 64}-0123456789abcdef")
    part = upload.open_part(1, 0)
    part.append(b"x")
    part.finish()
    assert upload.close()
    old = time.time() - 3 * 3600
    for path in (upload.folder, upload.marker):
        os.utime(path, (old, old))
    assert blobs.cleanup_staging(older_than_seconds=3600) == 2
    assert list(blobs.staging.iterdir()) == []


CHUNK = 1000
DATA = os.urandom(3 * CHUNK - 7)
OID = hashlib.sha256(DATA).hexdigest()


def _upload(blobs: LocalBlobStore) -> Any:
    return blobs.multipart(f"{OID}-{os.urandom(8).hex()}")


def _send(upload: Any, number: int, data: bytes = DATA) -> None:
    part = upload.open_part(number, (number - 1) * CHUNK)
    part.append(data[(number - 1) * CHUNK : number * CHUNK])
    part.hash(data[(number - 1) * CHUNK : number * CHUNK])
    part.finish()


def _assemble(upload: Any) -> tuple[str, int]:
    assert upload.close()
    staged, sha, size = upload.assemble(len(DATA), CHUNK)
    assert staged.path.read_bytes() == DATA
    staged.discard()
    upload.remove()
    return sha, size


@pytest.mark.parametrize("order", [[1, 2, 3], [3, 2, 1], [2, 1, 3], [1, 3, 2], [1, 1, 2, 3, 3]])
def test_multipart_assembles_any_order(tmp_path: Path, order: list[int]) -> None:
    blobs = LocalBlobStore(tmp_path)
    upload = _upload(blobs)
    for number in order:
        _send(upload, number)
    assert _assemble(upload) == (OID, len(DATA))


def test_in_order_parts_keep_a_running_hash(tmp_path: Path) -> None:
    """Parts sent in order go into the object itself, and the running hash covers
    them all, so the completion has nothing left to read."""
    blobs = LocalBlobStore(tmp_path)
    upload = _upload(blobs)
    for number in (1, 2, 3):
        _send(upload, number)
    (assembly,) = os.listdir(upload.folder)
    assert assembly.startswith("assembly-3-")
    ident = assembly.split("-")[2]
    covered, hasher = blobs.chains.covering(upload.upload_id, ident, 3)
    assert covered == 3 and hasher.hexdigest() == OID
    # Without the chain (a restart, another process), the completion re-reads.
    blobs.chains.forget(upload.upload_id)
    assert _assemble(upload) == (OID, len(DATA))


def test_a_part_is_refused_once_the_upload_is_closed(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    upload = _upload(blobs)
    _send(upload, 1)
    late = upload.open_part(1, 0)  # started before the completion...
    late.append(b"junk" * 250)
    assert upload.close()
    with pytest.raises(UploadClosed):
        late.finish()  # ... and ends after it
    with pytest.raises(UploadClosed):
        upload.open_part(2, CHUNK)


def test_the_completion_takes_over_an_assembly_whose_holder_died(tmp_path: Path) -> None:
    """A part request that dies holding the assembly (its lock dies with it): the
    completion takes the parts it holds, and the part sent again, from its file."""
    blobs = LocalBlobStore(tmp_path)
    upload = _upload(blobs)
    _send(upload, 1)
    dead = upload.open_part(2, CHUNK)
    dead.append(b"half a part")
    dead._close()  # what the kernel does to a killed process's descriptors
    _send(upload, 2)  # the client's retry: the assembly is held, so into a part file
    _send(upload, 3)
    assert _assemble(upload) == (OID, len(DATA))


def test_the_completion_refuses_while_a_holder_writes(tmp_path: Path) -> None:
    blobs = LocalBlobStore(tmp_path)
    upload = _upload(blobs)
    _send(upload, 1)
    _send(upload, 2)
    live = upload.open_part(3, 2 * CHUNK)
    live.append(DATA[2 * CHUNK : 2 * CHUNK + 10])
    assert upload.close()
    with pytest.raises(Conflict, match="still being received"):
        upload.assemble(len(DATA), CHUNK)
    live.append(b"more")
    with pytest.raises(UploadClosed):
        live.finish()
