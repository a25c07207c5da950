"""A blob being written: a staging file and the descriptor that writes to it,
hashed as it is written (the local store's :class:`~modelcommons.storage.blobs.StagedBlob`).
Aligned blocks may go past the page cache, through a second descriptor opened from
the first (``direct.py``)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from .direct import DirectWrites
from .writeback import Writeback, write_at

#: How a staging file is opened: created here, never an existing file, never inherited.
NEW_FILE = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)


class LocalStagedBlob:
    """A staging file and the descriptor that writes to it (and, for aligned
    blocks, the ``O_DIRECT`` one opened from it).

    Both are guarded by one lock: ``close`` waits for a write that is running on
    a worker thread, and a write after ``close`` fails instead of landing in
    whatever file reuses the descriptor number.
    """

    def __init__(self, path: Path, fd: int | None = None, *, direct: bool = False) -> None:
        self.path = path
        self._fd = fd if fd is not None else os.open(path, NEW_FILE, 0o600)
        #: Where aligned blocks go straight to the device, when ``direct`` and possible.
        self._direct = DirectWrites(self._fd) if direct else None
        self._lock = threading.Lock()
        self._hash = hashlib.sha256()
        self._size = 0
        self._writeback = Writeback()

    @classmethod
    def create(cls, path: Path, *, direct: bool = False) -> LocalStagedBlob:
        """A new file at ``path``; fails if anything is there already. With
        ``direct``, for a blob not read back soon, whole aligned blocks skip the
        page cache."""
        return cls(path, direct=direct)

    def write(self, data: bytes) -> None:
        self.append(data)
        self.hash(data)

    def append(self, data: bytes | memoryview) -> None:
        self.writev([data])

    def writev(self, chunks: Sequence[bytes | memoryview]) -> None:
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path.name} is closed")
            self._size += write_at(self._fd, chunks, self._size, self._direct)
            self._writeback.wrote(self._fd, self._size)

    def hash(self, data: bytes | memoryview) -> None:
        self._hash.update(data)

    @property
    def size(self) -> int:
        return self._size

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def read_all(self) -> Iterator[bytes]:
        with open(self.path, "rb") as f:
            while chunk := f.read(8 * 1024 * 1024):
                yield chunk

    def seal(self) -> None:
        """Make the bytes durable, date them now, and close: the last write."""
        with self._lock:
            if self._fd < 0:
                raise ValueError(f"{self.path.name} is closed")
            os.fsync(self._fd)
            # A fresh age for garbage collection: the upload is about to use it.
            os.utime(self._fd)
            self._close()

    def close(self) -> None:
        with self._lock:
            self._close()

    def _close(self) -> None:
        if self._direct is not None:
            self._direct.close()
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def discard(self) -> None:
        self.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            self._close()
