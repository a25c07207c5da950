"""Content-addressed blob storage behind a narrow interface.

A blob is written to a staging file first, hashed as it is written, and only
becomes visible under its sha256 by an atomic rename after an fsync. A crash
at any point leaves at most a stale staging file, never a corrupt blob.

Blobs are shared by content, so the store never knows who uses one; garbage
collection (``garbage.py``) asks the database. Its safety against an upload that
is about to reference a blob rests on one rule every store keeps: ``promote``
of bytes already stored refreshes the blob's age, and ``remove_if_older`` never
removes a blob whose age was refreshed after its cutoff.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import secrets
import stat
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


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """One blob as the store lists it."""

    sha256: str
    size: int
    #: POSIX time of its last write, or of the last ``promote`` of the same bytes.
    modified: float


class BlobStore(Protocol):
    def stage(self, name: str | None = None) -> StagedBlob:
        """Open a staging file; a ``name`` lets several requests share it (multipart)."""
        ...

    def promote(self, staged: StagedBlob, sha256: str) -> None:
        """Make ``staged`` visible as ``sha256``. If it already exists, discard
        ``staged`` and refresh the stored blob's ``modified`` time instead: the
        upload is about to reference it, and garbage collection must see it as new."""
        ...

    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int | None: ...
    def local_path(self, sha256: str) -> Path | None:
        """A path to serve with sendfile, for stores on local disk."""
        ...

    def open(self, sha256: str) -> BinaryIO: ...
    def cleanup_staging(self, older_than_seconds: float) -> int: ...
    def list_objects(self) -> Iterator[list[StoredObject]]:
        """Every stored blob, a batch at a time (a fan-out folder, a listing page),
        so that a caller can check each batch and never hold the whole store."""
        ...

    def remove_if_older(self, sha256: str, cutoff: float) -> int | None:
        """Delete a blob unless it was modified (written or promoted again) after
        ``cutoff`` (POSIX time), atomically with respect to ``promote``: a promote
        that finds the blob refreshes it before this looks, or finds it gone and
        stores its own copy. Returns the bytes freed, or None when it was kept
        (or was not there)."""
        ...


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
        if not _is_sha256(sha256):
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
        try:
            # Already stored: make it young again (see remove_if_older). If garbage
            # collection took it away a moment ago, this fails and we store ours.
            os.utime(target)
        except FileNotFoundError:
            pass
        except PermissionError:
            staged.discard()  # someone else's file (a restore?): stored all the same
            return
        else:
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
        """Remove staging files left by interrupted uploads.

        A blob that garbage collection set aside and did not get to remove or put
        back (the process died in between) goes back to the store, whatever its age:
        the next collection decides about it again."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.staging.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.name.startswith(_DOOMED):
                    self._put_back(entry, entry.name[len(_DOOMED) :].split(".", 1)[0])
                elif entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
        return removed

    def list_objects(self) -> Iterator[list[StoredObject]]:
        """One batch per fan-out folder (``objects/ab/cd``), in sha256 order."""
        for top in _sorted_dirs(self.objects):
            for sub in _sorted_dirs(top):
                batch: list[StoredObject] = []
                with contextlib.suppress(FileNotFoundError), os.scandir(sub) as entries:
                    for entry in entries:
                        if not _is_sha256(entry.name):
                            continue
                        with contextlib.suppress(FileNotFoundError):
                            st = entry.stat(follow_symlinks=False)
                            if stat.S_ISREG(st.st_mode):
                                batch.append(StoredObject(entry.name, st.st_size, st.st_mtime))
                if batch:
                    batch.sort(key=lambda o: o.sha256)
                    yield batch

    def remove_if_older(self, sha256: str, cutoff: float) -> int | None:
        path = self._path(sha256)
        doomed = self.staging / f"{_DOOMED}{sha256}.{secrets.token_hex(4)}"
        try:
            if path.stat().st_mtime > cutoff:
                return None
            # Move it out of sight first: from now on a promote of the same bytes
            # finds nothing and stores its own copy. One that came just before has
            # refreshed the time, which the moved file keeps.
            os.rename(path, doomed)
        except FileNotFoundError:
            return None
        try:
            st = doomed.stat()
            if st.st_mtime > cutoff:
                self._put_back(doomed, sha256)
                return None
            doomed.unlink()
        except FileNotFoundError:
            return None  # a starting server's cleanup_staging put it back
        return st.st_size

    def _put_back(self, doomed: Path, sha256: str) -> None:
        if not _is_sha256(sha256):
            doomed.unlink()
            return
        target = self._path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        # A promote may have stored the same bytes meanwhile: either copy will do.
        os.replace(doomed, target)


#: Prefix of a blob set aside in ``staging`` by ``remove_if_older``.
_DOOMED = "gc-"


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _sorted_dirs(parent: Path) -> list[Path]:
    try:
        return sorted(p for p in parent.iterdir() if p.is_dir() and not p.is_symlink())
    except FileNotFoundError:
        return []


def open_blob_store(url_or_path: Path) -> BlobStore:
    """Pick the blob backend from settings. Only the local folder exists so far."""
    return LocalBlobStore(url_or_path)
