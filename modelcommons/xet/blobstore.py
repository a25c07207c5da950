"""The blob store as the rest of the hub sees it: files held as Xet chunks read
through it like any blob, so that everything that reads file bytes (previews, search,
git packs and LFS downloads, checks) works for them without knowing about xorbs."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ..db.database import Database
from ..storage.blobs import BlobStore, StagedBlob, StoredObject
from . import hashing, store

if TYPE_CHECKING:
    from ..storage.multipart import LocalMultipartUpload


class _Stream(io.RawIOBase):
    """A read-only stream over blocks of bytes."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._left = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._left:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._left = block
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        return n


class XetBackedStore:
    """A :class:`~modelcommons.storage.blobs.BlobStore` that also answers for files
    registered by Xet shards (``xet_files``), reconstructing them from xorbs as they
    are read. Writes, listings and collection go to the store underneath."""

    def __init__(self, inner: BlobStore, db: Database) -> None:
        self.inner = inner
        self.db = db

    def _held(self, sha256: str) -> tuple[int, Iterator[bytes]] | None:
        with self.db.read() as session:
            row = store.file_by_sha256(session, sha256)
            if row is None:
                return None
            terms = store.unpack_terms(row.terms)
            stored = store.load_xorbs(session, {hashing.to_hex(t.xorb) for t in terms})
            size = row.size
        return size, store.read_terms(self.inner, stored, terms)

    def _size_held(self, sha256: str) -> int | None:
        with self.db.read() as session:
            row = store.file_by_sha256(session, sha256)
            return None if row is None else row.size

    def stage(self) -> StagedBlob:
        return self.inner.stage()

    def multipart(self, upload_id: str) -> LocalMultipartUpload:
        return self.inner.multipart(upload_id)

    def promote(self, staged: StagedBlob, sha256: str) -> None:
        self.inner.promote(staged, sha256)

    def exists(self, sha256: str) -> bool:
        return self.inner.exists(sha256) or self._size_held(sha256) is not None

    def size(self, sha256: str) -> int | None:
        size = self.inner.size(sha256)
        return size if size is not None else self._size_held(sha256)

    def local_path(self, sha256: str) -> Path | None:
        """A path only for bytes stored whole (a Xet-held file has none)."""
        path = self.inner.local_path(sha256)
        return path if path is not None and path.exists() else None

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.inner.open(sha256)
        except FileNotFoundError:
            held = self._held(sha256)
            if held is None:
                raise
            return io.BufferedReader(_Stream(held[1]), buffer_size=1024 * 1024)

    def quarantine(self, sha256: str) -> str | None:
        return self.inner.quarantine(sha256)

    def cleanup_staging(self, older_than_seconds: float) -> int:
        return self.inner.cleanup_staging(older_than_seconds)

    def list_objects(self) -> Iterator[list[StoredObject]]:
        return self.inner.list_objects()

    def remove_if_older(self, sha256: str, cutoff: float) -> int | None:
        return self.inner.remove_if_older(sha256, cutoff)
