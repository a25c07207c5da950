"""The blob store as the rest of the hub sees it: files held as Xet chunks read
through it like any blob, so that everything that reads file bytes (previews, search,
git packs and LFS downloads, checks) works for them without knowing about xorbs."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from ..db.database import Database
from ..storage.blobs import BlobStore, MultipartUpload, Promotable, StagedBlob, StoredObject
from . import hashing, store


class _Stream(io.RawIOBase):
    """A read-only, seekable stream over a file held as Xet chunks: ``open_at(offset)``
    gives the file's blocks from ``offset`` on, so a seek starts a new reconstruction
    there (previews read a Parquet footer, then its pages; a text preview reads its
    head twice) and nothing is ever held whole."""

    def __init__(self, size: int, open_at: Callable[[int], Iterator[bytes]]) -> None:
        self._size = size
        self._open_at = open_at
        self._pos = 0
        self._blocks: Iterator[bytes] | None = None
        self._left = b""

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        target = max(0, base + offset)
        if target != self._pos:
            self._pos, self._blocks, self._left = target, None, b""
        return self._pos

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos >= self._size:
            return 0
        if self._blocks is None:
            self._blocks = self._open_at(self._pos)
        while not self._left:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._left = block
        n = min(len(buffer), len(self._left))
        buffer[:n] = self._left[:n]
        self._left = self._left[n:]
        self._pos += n
        return n


def _coalesced(pieces: Iterator[bytes], size: int) -> Iterator[bytes]:
    """Chunks (~64 KiB each) gathered into blocks of ``size`` bytes: a response sends
    each block it is given in a write of its own (and a thread hop), which for chunks
    cost plain-HTTP downloads of Xet-held files more than half of their speed."""
    buffer = bytearray()
    try:
        for piece in pieces:
            if not buffer and len(piece) >= size:
                yield piece
                continue
            buffer += piece
            if len(buffer) >= size:
                yield bytes(buffer)
                buffer.clear()
        if buffer:
            yield bytes(buffer)
    finally:
        close = getattr(pieces, "close", None)
        if close is not None:
            close()  # the reconstruction's reads (an object store's response) end now


class XetBackedStore:
    """A :class:`~modelcommons.storage.blobs.BlobStore` that also answers for files
    registered by Xet shards (``xet_files``), reconstructing them from xorbs as they
    are read. Writes, listings and collection go to the store underneath."""

    def __init__(self, inner: BlobStore, db: Database) -> None:
        self.inner = inner
        self.db = db

    def _held(
        self, sha256: str, start: int = 0, end: int | None = None
    ) -> tuple[int, Iterator[bytes]] | None:
        with self.db.read() as session:
            row = store.file_by_sha256(session, sha256)
            if row is None:
                return None
            terms = store.unpack_terms(row.terms)
            stored = store.load_xorbs(session, {hashing.to_hex(t.xorb) for t in terms})
            size = row.size
        return size, store.read_terms(self.inner, stored, terms, start, end)

    def _size_held(self, sha256: str) -> int | None:
        with self.db.read() as session:
            row = store.file_by_sha256(session, sha256)
            return None if row is None else row.size

    def stage(self) -> StagedBlob:
        return self.inner.stage()

    def multipart(self, upload_id: str) -> MultipartUpload:
        return self.inner.multipart(upload_id)

    def promote(self, staged: Promotable, sha256: str) -> None:
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

    def read_range(self, sha256: str, start: int, end: int, chunk: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive): from the store when it holds them
        whole, else reconstructed from the xorbs that hold the file's chunks."""
        if self.inner.exists(sha256):
            return self.inner.read_range(sha256, start, end, chunk)
        held = self._held(sha256, start, end + 1)
        if held is None:
            raise FileNotFoundError(sha256)
        return _coalesced(held[1], chunk)

    def presigned_url(self, sha256: str, seconds: int, filename: str | None = None) -> str | None:
        """The store's URL for bytes it holds whole; a Xet-held file has none (its
        bytes are in several xorbs), so the hub sends it itself."""
        if not self.inner.exists(sha256):
            return None
        return self.inner.presigned_url(sha256, seconds, filename)

    def check(self) -> None:
        self.inner.check()

    def describe(self) -> str:
        return self.inner.describe()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.inner.open(sha256)
        except FileNotFoundError:
            size = self._size_held(sha256)
            if size is None:
                raise

            def open_at(offset: int) -> Iterator[bytes]:
                held = self._held(sha256, offset)
                if held is None:  # gone since: a reader sees the file end
                    return iter(())
                return held[1]

            return io.BufferedReader(_Stream(size, open_at), buffer_size=1024 * 1024)

    def quarantine(self, sha256: str) -> str | None:
        return self.inner.quarantine(sha256)

    def cleanup_staging(self, older_than_seconds: float) -> int:
        return self.inner.cleanup_staging(older_than_seconds)

    def list_objects(self) -> Iterator[list[StoredObject]]:
        return self.inner.list_objects()

    def remove_if_older(self, sha256: str, cutoff: float) -> int | None:
        return self.inner.remove_if_older(sha256, cutoff)
