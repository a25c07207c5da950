"""`commons fsck`: every stored blob re-hashed, every referenced blob looked for.

The store's rule is that a blob stored under the name X always hashes to X
(``blobs.py``). This checks it after the fact, for what the upload path cannot
prevent: a failing disk, a restore gone wrong, someone editing files by hand, or
blobs poisoned before that rule was enforced.

* **Corrupt**: a blob whose bytes do not hash to its name. Read in 8 MiB pieces
  on a few worker threads (``hashlib`` releases the GIL while it hashes), so memory
  stays flat whatever the size of a blob. With ``repair`` it is moved into the
  store's quarantine (``BlobStore.quarantine``: moved, never deleted), so the hub
  stops serving it (``resolve`` answers 410) and the next upload of the same
  sha256 stores good bytes again (the LFS batch API asks for the bytes of a blob
  it does not hold).
* **Missing**: a sha256 the database references (a file entry of any commit, or
  an uploaded LFS object) with no blob in the store. Checked before the blobs are
  re-hashed, so a blob quarantined by this run is counted as corrupt, not twice.

Safe while the hub serves: uploads only add blobs, and a blob that garbage
collection removes meanwhile is skipped.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import os
import threading
from collections.abc import Callable, Iterator

from sqlalchemy import select

from ..db.database import Database
from ..db.schema import FileBlob, LfsObject, PurgedLfsObject, XetFile
from .blobs import BlobStore, StoredObject

READ_BYTES = 8 * 1024 * 1024
#: Rows per query when looking for referenced blobs.
BATCH = 1000


@dataclasses.dataclass(frozen=True)
class Corrupt:
    sha256: str
    size: int
    actual: str
    #: Where --repair moved it (None: not moved).
    quarantined: str | None = None


@dataclasses.dataclass
class Report:
    objects: int = 0
    bytes: int = 0
    corrupt: list[Corrupt] = dataclasses.field(default_factory=list)
    missing: list[str] = dataclasses.field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.corrupt and not self.missing


def total_size(blobs: BlobStore) -> tuple[int, int]:
    """(objects, bytes) in the store, from its listing alone (nothing is read)."""
    count = size = 0
    for batch in blobs.list_objects():
        count += len(batch)
        size += sum(o.size for o in batch)
    return count, size


def find_missing(db: Database, blobs: BlobStore) -> list[str]:
    """sha256s the database references that the store does not hold, in order; bytes
    a repository's admin deleted for good (``purged_lfs_objects``) are not missing."""
    missing: set[str] = set()
    for sha256 in _referenced(db):
        if sha256 not in missing and not blobs.exists(sha256) and not _in_xorbs(db, sha256):
            missing.add(sha256)
    with db.read() as session:
        purged = {
            oid for oid in session.scalars(select(PurgedLfsObject.oid).distinct()) if oid in missing
        }
    return sorted(missing - purged)


def _in_xorbs(db: Database, sha256: str) -> bool:
    """Whether a file is held as Xet chunks (its bytes are in xorbs, not one blob)."""
    with db.read() as session:
        return (
            session.scalar(select(XetFile.hash).where(XetFile.sha256 == sha256).limit(1))
            is not None
        )


def _referenced(db: Database) -> Iterator[str]:
    """Every sha256 of a file entry and of an LFS object, a page at a time (keyset
    pagination on each table's primary key, so every page is an index range)."""
    for key, value in ((FileBlob.oid, FileBlob.sha256), (LfsObject.oid, LfsObject.oid)):
        last = ""
        while True:
            with db.read() as session:
                rows = session.execute(
                    select(key, value).where(key > last).order_by(key).limit(BATCH)
                ).all()
            if not rows:
                break
            last = rows[-1][0]
            yield from (row[1] for row in rows)


def check(
    db: Database,
    blobs: BlobStore,
    *,
    repair: bool = False,
    progress: Callable[[int], None] | None = None,
    workers: int | None = None,
) -> Report:
    """Look for missing blobs, then re-hash every stored one. ``progress(n)`` is
    called (from this thread) as each ``n`` more bytes have been read."""
    report = Report(missing=find_missing(db, blobs))
    done = _Counter()
    workers = workers or min(4, os.cpu_count() or 1)
    with concurrent.futures.ThreadPoolExecutor(workers, thread_name_prefix="fsck") as pool:
        pending: set[concurrent.futures.Future[tuple[StoredObject, str | None]]] = set()

        def drain(until: int) -> None:
            nonlocal pending
            while len(pending) > until:
                finished, pending = concurrent.futures.wait(
                    pending, timeout=0.2, return_when=concurrent.futures.FIRST_COMPLETED
                )
                if progress:
                    progress(done.take())
                for future in finished:
                    _note(report, blobs, *future.result(), repair=repair)

        for batch in blobs.list_objects():
            for obj in batch:
                pending.add(pool.submit(_digest, blobs, obj, done))
                drain(2 * workers)
        drain(0)
    if progress:
        progress(done.take())
    return report


def _note(
    report: Report, blobs: BlobStore, obj: StoredObject, actual: str | None, *, repair: bool
) -> None:
    if actual is None:
        return  # removed meanwhile (garbage collection)
    report.objects += 1
    report.bytes += obj.size
    if actual != obj.sha256:
        moved = blobs.quarantine(obj.sha256) if repair else None
        report.corrupt.append(Corrupt(obj.sha256, obj.size, actual, moved))


class _Counter:
    """Bytes read by the worker threads since the last ``take``."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, n: int) -> None:
        with self._lock:
            self._value += n

    def take(self) -> int:
        with self._lock:
            value, self._value = self._value, 0
            return value


def _digest(blobs: BlobStore, obj: StoredObject, done: _Counter) -> tuple[StoredObject, str | None]:
    """The sha256 of a stored blob's bytes, read in pieces; None if it is gone."""
    h = hashlib.sha256()
    buffer = bytearray(READ_BYTES)
    view = memoryview(buffer)
    try:
        with blobs.open(obj.sha256) as f:
            while n := f.readinto(view):  # type: ignore[attr-defined]
                h.update(view[:n])
                done.add(n)
    except FileNotFoundError:
        return obj, None
    return obj, h.hexdigest()
