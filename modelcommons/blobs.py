"""Content-addressed blob storage behind a narrow interface.

A blob is written to a staging file first, hashed as it is written, and only
becomes visible under its sha256 by an atomic rename after an fsync. A crash
at any point leaves at most a stale staging file, never a corrupt blob.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, Protocol


class StagedBlob(Protocol):
    """A blob being written. ``write`` may be called from a worker thread."""

    def write(self, data: bytes) -> None:
        """Append and hash (``append`` plus ``hash``)."""
        ...

    def append(self, data: bytes | memoryview) -> None:
        """Append without hashing; with ``hash`` it lets both run in parallel."""
        ...

    def hash(self, data: bytes | memoryview) -> None:
        """Feed the running sha256, in the order the bytes were appended."""
        ...

    def reserve(self, size: int) -> None:
        """Allocate room for ``size`` bytes up front (faster writes, early ENOSPC)."""
        ...

    def write_at(self, offset: int, data: bytes) -> None: ...
    @property
    def size(self) -> int: ...
    def sha256(self) -> str:
        """Digest of the bytes written with ``write`` (sequential writes only)."""
        ...

    def rehash(self) -> tuple[str, int]:
        """Read back the whole staged file: (sha256, size)."""
        ...

    def read_all(self) -> Iterator[bytes]: ...
    def close(self) -> None: ...
    def discard(self) -> None: ...


class BlobStore(Protocol):
    def stage(self, name: str | None = None) -> StagedBlob:
        """Open a staging file; a ``name`` lets several requests share it (multipart)."""
        ...

    def promote(self, staged: StagedBlob, sha256: str) -> None:
        """Make ``staged`` visible as ``sha256``; idempotent if it already exists."""
        ...

    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int | None: ...
    def local_path(self, sha256: str) -> Path | None:
        """A path to serve with sendfile, for stores on local disk."""
        ...

    def open(self, sha256: str) -> BinaryIO: ...
    def cleanup_staging(self, older_than_seconds: float) -> int: ...


class LocalStagedBlob:
    def __init__(self, path: Path, *, create: bool) -> None:
        self.path = path
        flags = os.O_RDWR | (os.O_CREAT | os.O_EXCL if create else 0)
        if not create and not path.exists():
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        else:
            fd = os.open(path, flags, 0o600)
        self._fd = fd
        self._hash = hashlib.sha256()
        self._size = 0

    def write(self, data: bytes) -> None:
        self.append(data)
        self.hash(data)

    def append(self, data: bytes | memoryview) -> None:
        view = memoryview(data)
        self._size += len(view)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def hash(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    def reserve(self, size: int) -> None:
        if size > 0:
            os.posix_fallocate(self._fd, 0, size)

    def write_at(self, offset: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            n = os.pwrite(self._fd, view, offset)
            view = view[n:]
            offset += n

    @property
    def size(self) -> int:
        return self._size

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def rehash(self) -> tuple[str, int]:
        h = hashlib.sha256()
        size = 0
        for chunk in self.read_all():
            h.update(chunk)
            size += len(chunk)
        return h.hexdigest(), size

    def read_all(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while chunk := f.read(8 * 1024 * 1024):
                yield chunk

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __del__(self) -> None:
        self.close()


class LocalBlobStore:
    """Blobs as files under ``root/objects/ab/cd/<sha256>``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.objects = root / "objects"
        self.staging = root / "staging"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)

    def _path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def stage(self, name: str | None = None) -> LocalStagedBlob:
        if name is None:
            return LocalStagedBlob(self.staging / f"up-{secrets.token_hex(12)}", create=True)
        if not name.replace("-", "").isalnum():
            raise ValueError(f"bad staging name {name!r}")
        return LocalStagedBlob(self.staging / f"mp-{name}", create=False)

    def promote(self, staged: StagedBlob, sha256: str) -> None:
        assert isinstance(staged, LocalStagedBlob)
        target = self._path(sha256)
        if target.exists():
            staged.discard()
            return
        os.fsync(staged._fd)
        staged.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, target)
        dir_fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def exists(self, sha256: str) -> bool:
        return self._path(sha256).exists()

    def size(self, sha256: str) -> int | None:
        try:
            return self._path(sha256).stat().st_size
        except FileNotFoundError:
            return None

    def local_path(self, sha256: str) -> Path | None:
        return self._path(sha256)

    def open(self, sha256: str) -> BinaryIO:
        return open(self._path(sha256), "rb")

    def cleanup_staging(self, older_than_seconds: float) -> int:
        """Remove staging files left by interrupted uploads."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.staging.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
        return removed


def open_blob_store(url_or_path: Path) -> BlobStore:
    """Pick the blob backend from settings. Only the local folder exists so far."""
    return LocalBlobStore(url_or_path)
