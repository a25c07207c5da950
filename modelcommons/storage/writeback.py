"""Writing to disk: buffers written in full (:func:`write_all`), and writeback of a
file's dirty pages started early, so that its final fsync is short.

An upload is fsynced before the hub answers. Left to the kernel, a 1 GiB upload's
pages sit dirty in the page cache until that fsync, which then writes them all
while the client waits. ``sync_file_range(SYNC_FILE_RANGE_WRITE)`` asks the kernel
to start writing a range now, without waiting for it, so the disk works while the
network still delivers the rest and the fsync finds little left to do. It is no
durability promise (the fsync still makes one), so where it is missing (not Linux,
no libc symbol) nothing happens.

Python's ``os`` has no ``sync_file_range``; ctypes calls the C library's, and like
every ctypes call it releases the GIL while the kernel works.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from collections.abc import Callable, Sequence

from .direct import DirectWrites

#: Start writeback once this much has been written since the last start.
WINDOW_BYTES = 8 * 1024 * 1024
SYNC_FILE_RANGE_WRITE = 2


def _load() -> Callable[[int, int, int, int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int
    call: Callable[[int, int, int, int], int] = function
    return call


_sync_file_range = _load()


class Writeback:
    """Tracks how much of a file was written since writeback last started."""

    def __init__(self, start: int = 0) -> None:
        self.started = start

    def wrote(self, fd: int, end: int) -> None:
        """Bytes up to ``end`` are written: start writing them out once a window is full."""
        if _sync_file_range is None or end - self.started < WINDOW_BYTES:
            return
        if _sync_file_range(fd, self.started, end - self.started, SYNC_FILE_RANGE_WRITE) == 0:
            self.started = end
        else:
            _disable(ctypes.get_errno())


def _disable(errno: int) -> None:
    """A filesystem that does not support it (ESPIPE, EINVAL): stop asking."""
    global _sync_file_range
    if errno in (getattr(os, "ESPIPE", 29), 22, 38):  # ESPIPE, EINVAL, ENOSYS
        _sync_file_range = None


#: Buffers per ``writev``: well under every system's IOV_MAX (1024 on Linux).
_IOV_MAX = 512


def write_all(fd: int, chunks: Sequence[bytes | memoryview], offset: int | None = None) -> int:
    """Write every buffer, in order, at the file position or at ``offset``; short
    writes are resumed. Returns the bytes written."""
    views = [memoryview(c) for c in chunks if len(c)]
    total = 0
    while views:
        batch = views[:_IOV_MAX]
        n = os.writev(fd, batch) if offset is None else os.pwritev(fd, batch, offset + total)
        if n <= 0:
            raise OSError(f"no progress writing to descriptor {fd}")
        total += n
        while views and n >= len(views[0]):
            n -= len(views.pop(0))
        if n:
            views[0] = views[0][n:]
    return total


def write_at(
    fd: int, chunks: Sequence[bytes | memoryview], offset: int, direct: DirectWrites | None
) -> int:
    """:func:`write_all` at ``offset``, except that the aligned blocks of each buffer
    go straight to the device through ``direct`` where it can take them. Returns
    the bytes written."""
    total = 0
    run: list[memoryview] = []  # contiguous buffered bytes, for one writev at run_at
    run_at = offset
    for chunk in chunks:
        view = memoryview(chunk)
        at = offset + total
        total += len(view)
        sent = direct.write(view, at) if direct is not None else 0
        if sent:
            if run:
                write_all(fd, run, run_at)
                run = []
            view = view[sent:]
            at += sent
        if len(view):
            if not run:
                run_at = at
            run.append(view)
    if run:
        write_all(fd, run, run_at)
    return total
