"""Content-addressed blob storage behind a narrow interface.

**A blob stored under the name X always hashes to X.** Three rules keep it so, and
each lives in one place:

1. Bytes are written into a staging file that one request created for itself
   (``O_EXCL``, a random name) and that nobody else can write to; a multipart
   upload's parts follow the same rule (``multipart.py``).
2. ``promote`` takes a staging file only once its writer is done: it waits for
   any write still running, fsyncs and closes the file, and only then gives it its
   name, so no open file handle can change the bytes afterwards.
3. ``promote`` never replaces a stored blob: it hard-links the staging file under
   the name, which fails if the name exists, and then keeps the stored bytes.

A crash at any point leaves at most a stale staging file, never a corrupt blob.
Bytes that went bad anyway (a disk, an operator) are found by ``commons fsck``,
which re-hashes every blob and can move the bad ones into ``quarantine/``.

Blobs are shared by content, so the store never knows who uses one; garbage
collection (``garbage.py``) asks the database. Its safety against an upload that
is about to reference a blob rests on one rule every store keeps: ``promote``
of bytes already stored refreshes the blob's age, and ``remove_if_older`` never
removes a blob whose age was refreshed after its cutoff.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import stat
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from .staging import LocalStagedBlob

if TYPE_CHECKING:
    from .multipart import LocalMultipartUpload


class Promotable(Protocol):
    """Bytes ``promote`` can give a name: a staged blob, or an assembled multipart
    upload (whose bytes may already be on their way to a remote store)."""

    @property
    def size(self) -> int: ...
    def sha256(self) -> str: ...
    def close(self) -> None: ...
    def discard(self) -> None: ...


class PartTarget(Protocol):
    """Where one part request of a multipart upload writes (``multipart.py``)."""

    @property
    def hashing(self) -> bool: ...
    def writev(self, chunks: Sequence[bytes | memoryview]) -> None: ...
    def hash(self, data: bytes | memoryview) -> None: ...
    def finish(self) -> None: ...
    def abort(self) -> None: ...


class MultipartUpload(Protocol):
    """The parts of one multipart LFS upload (``multipart.py``, ``s3parts.py``)."""

    def open_part(self, number: int, offset: int) -> PartTarget: ...
    def close(self) -> bool: ...
    def closed(self) -> bool: ...
    def mark_stored(self) -> None: ...
    def stored(self) -> bool: ...
    def assemble(self, size: int, chunk: int) -> tuple[Promotable, str, int]: ...
    def remove(self) -> None: ...
    def part_url(self, number: int, length: int, seconds: int) -> str | None:
        """A URL the client may PUT part ``number`` (exactly ``length`` bytes) to
        straight into the store, or None where the store has none (a folder)."""
        ...


class StagedBlob(Protocol):
    """A blob being written by one request. ``append`` and ``hash`` may run on
    worker threads, one call of each at a time."""

    def write(self, data: bytes) -> None:
        """Append and hash (``append`` plus ``hash``)."""
        ...

    def append(self, data: bytes | memoryview) -> None:
        """Append without hashing; with ``hash`` it lets both run in parallel."""
        ...

    def writev(self, chunks: Sequence[bytes | memoryview]) -> None:
        """``append`` of several buffers, in one system call where it can."""
        ...

    def hash(self, data: bytes | memoryview) -> None:
        """Feed the running sha256, in the order the bytes were appended."""
        ...

    @property
    def size(self) -> int: ...
    def sha256(self) -> str:
        """Digest of the bytes fed to ``hash``."""
        ...

    def read_all(self) -> Iterator[bytes]: ...
    def close(self) -> None:
        """Close the file; a write still running finishes first, later ones fail."""
        ...

    def discard(self) -> None: ...


@dataclasses.dataclass(frozen=True)
class StoredObject:
    """One blob as the store lists it."""

    sha256: str
    size: int
    #: POSIX time of its last write, or of the last ``promote`` of the same bytes.
    modified: float


class BlobStore(Protocol):
    def stage(self) -> StagedBlob:
        """A new staging file that only the caller writes to."""
        ...

    def multipart(self, upload_id: str) -> MultipartUpload:
        """The parts of one multipart upload (``multipart.py``)."""
        ...

    def promote(self, staged: Promotable, sha256: str) -> None:
        """Make ``staged`` visible as ``sha256`` (the caller verified the hash).
        ``staged`` is closed first, so nothing can write to it afterwards. If the
        name exists already, the stored bytes stay: ``staged`` is discarded and the
        stored blob's ``modified`` time refreshed, because the upload is about to
        reference it and garbage collection must see it as new."""
        ...

    def exists(self, sha256: str) -> bool: ...
    def size(self, sha256: str) -> int | None: ...
    def local_path(self, sha256: str) -> Path | None:
        """A path to serve with sendfile, for stores on local disk."""
        ...

    def read_range(self, sha256: str, start: int, end: int, chunk: int) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive), a piece of at most ``chunk`` at a time."""
        ...

    def presigned_url(self, sha256: str, seconds: int, filename: str | None = None) -> str | None:
        """A URL of the store itself that serves the blob for that long, or None
        (a local store has none)."""
        ...

    def check(self) -> None:
        """Raise unless the store answers (health checks)."""
        ...

    def describe(self) -> str:
        """Where the blobs are, for people (``commons fsck``, logs)."""
        ...

    def open(self, sha256: str) -> BinaryIO: ...
    def quarantine(self, sha256: str) -> str | None:
        """Move a blob out of the store (it is no longer served, and the next upload
        of the same sha256 stores its bytes again) without deleting it. Returns where
        it went, or None when it was not there."""
        ...

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


class LocalBlobStore:
    """Blobs as files under ``root/objects/ab/cd/<sha256>``."""

    def __init__(self, root: Path, *, direct: bool = True) -> None:
        from .multipart import HashChains

        self.root = root
        #: Uploads write their aligned blocks past the page cache (``direct.py``).
        self.direct = direct
        self.objects = root / "objects"
        self.staging = root / "staging"
        self.quarantine_dir = root / "quarantine"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True)
        #: Running hashes of multipart uploads whose parts arrive in order.
        self.chains = HashChains()

    def _path(self, sha256: str) -> Path:
        if not _is_sha256(sha256):
            raise ValueError(f"not a sha256: {sha256!r}")
        return self.objects / sha256[:2] / sha256[2:4] / sha256

    def stage(self) -> LocalStagedBlob:
        path = self.staging / f"up-{secrets.token_hex(12)}"
        return LocalStagedBlob.create(path, direct=self.direct)

    def multipart(self, upload_id: str) -> LocalMultipartUpload:
        from .multipart import LocalMultipartUpload

        return LocalMultipartUpload(self, upload_id)

    def promote(self, staged: Promotable, sha256: str) -> None:
        assert isinstance(staged, LocalStagedBlob)
        target = self._path(sha256)
        if self._refresh(target):
            staged.discard()
            return
        staged.seal()  # waits for a running write; nothing can write to it afterwards
        target.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                # A link, not a rename: it fails when the name exists, so stored
                # bytes are never replaced, not even by a racing upload of the same.
                os.link(staged.path, target)
            except FileExistsError:
                if self._refresh(target):
                    break
                continue  # collected between the two calls: link ours after all
            _fsync_dir(target.parent)
            break
        staged.discard()  # the staging name only; a linked blob keeps its bytes

    def _refresh(self, target: Path) -> bool:
        """Make a stored blob young again (see remove_if_older); False if absent."""
        try:
            os.utime(target)
        except FileNotFoundError:
            return False
        except PermissionError:
            pass  # someone else's file (a restore?): stored all the same
        return True

    def quarantine(self, sha256: str) -> str | None:
        path = self._path(sha256)
        self.quarantine_dir.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.quarantine_dir / f"{sha256}.{stamp}.{secrets.token_hex(4)}"
        try:
            os.rename(path, target)
        except FileNotFoundError:
            return None
        _fsync_dir(path.parent)
        return str(target)

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

    def read_range(self, sha256: str, start: int, end: int, chunk: int) -> Iterator[bytes]:
        with open(self._path(sha256), "rb") as f:
            f.seek(start)
            left = end - start + 1
            while left > 0 and (data := f.read(min(chunk, left))):
                left -= len(data)
                yield data

    def presigned_url(self, sha256: str, seconds: int, filename: str | None = None) -> str | None:
        return None

    def check(self) -> None:
        if not self.objects.is_dir():
            raise FileNotFoundError(f"{self.objects} is missing")

    def describe(self) -> str:
        return str(self.root)

    def cleanup_staging(self, older_than_seconds: float) -> int:
        """Remove staging files left by interrupted uploads, and multipart uploads
        (folders and closed markers) untouched for that long: their signed URLs
        have expired by then.

        A blob that garbage collection set aside and did not get to remove or put
        back (the process died in between) goes back to the store, whatever its age:
        the next collection decides about it again."""
        cutoff = time.time() - older_than_seconds
        removed = 0
        for entry in self.staging.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if entry.name.startswith(_DOOMED):
                    self._put_back(entry, entry.name[len(_DOOMED) :].split(".", 1)[0])
                elif entry.lstat().st_mtime < cutoff:
                    if entry.is_dir() and not entry.is_symlink():
                        shutil.rmtree(entry, ignore_errors=True)
                    else:
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
        # A promote may have stored the same bytes meanwhile: those stay.
        with contextlib.suppress(FileExistsError):
            os.link(doomed, target)
        doomed.unlink()


#: Prefix of a blob set aside in ``staging`` by ``remove_if_older``.
_DOOMED = "gc-"


def _is_sha256(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sorted_dirs(parent: Path) -> list[Path]:
    try:
        return sorted(p for p in parent.iterdir() if p.is_dir() and not p.is_symlink())
    except FileNotFoundError:
        return []
