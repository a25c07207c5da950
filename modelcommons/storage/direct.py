"""Uploads written past the page cache: whole, aligned blocks go to the device with
``O_DIRECT``, the rest (a short tail, an unaligned buffer) the usual way.

A buffered write copies every byte once more, from the request's buffer into the
page cache, and those pages must then be found, dirtied and written back. For an
upload that is stored and not read again soon, that copy is most of what the
write costs: measured on the 2-core machine of ``benchmarks/RESULTS.md``, writing
1 GiB in 2 MiB buffers took 0.26-2.1 CPU-seconds through the page cache, 0.5-3.4
with early writeback (the high ends when the kernel had to find fresh pages), and
0.07-0.14 with ``O_DIRECT`` (``benchmarks/README.md``, "Notes on the upload
figures"). The socket body reader (``server/bodies.py``) fills page-aligned
buffers whose boundaries fall on multiples of their size, so all but an upload's
last few kilobytes take this path.

A :class:`DirectWrites` is a second descriptor on a file already open for
writing, reopened through ``/proc/self/fd`` at the first write that can use it, so
that it follows the file, not its name (multipart assemblies are renamed while
written). Where that fails (no ``/proc``, a filesystem without direct I/O), or
where the kernel refuses a direct write as misaligned, writes go through the page
cache as before: the bytes are the same either way, and so is the final ``fsync``
that makes them durable.

Linux only: elsewhere ``os.O_DIRECT`` does not exist and nothing here is used.
"""

from __future__ import annotations

import ctypes
import errno
import os

#: Offsets, lengths and buffer addresses of direct writes are multiples of this: the
#: page size, which is at least every Linux filesystem's direct I/O alignment.
ALIGN = 4096
_O_DIRECT: int = getattr(os, "O_DIRECT", 0)


def _address(view: memoryview) -> int | None:
    """Where the buffer behind ``view`` starts; None when it cannot be told (a
    read-only buffer such as ``bytes``, which then takes the buffered path)."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(view))
    except (TypeError, ValueError):
        return None


class DirectWrites:
    """A file's ``O_DIRECT`` descriptor, for the aligned blocks of what is written.

    The descriptor is opened at the first write that can use it, so a file that
    never gets a whole aligned block (a small file, bytes decoded from a commit's
    inline content) costs no second descriptor: a commit of 10,000 small files
    holds 10,000 staged blobs open at once. Not thread-safe: the owner (a staged
    blob, a part writer) calls it under the lock that guards its own descriptor.
    """

    def __init__(self, fd: int) -> None:
        self._target = fd
        #: None until the first write that could use it; -1 when unavailable or closed.
        self._fd: int | None = None if _O_DIRECT else -1

    @property
    def active(self) -> bool:
        """Whether the direct descriptor is open (some write has gone through it)."""
        return self._fd is not None and self._fd >= 0

    def _open(self) -> int:
        try:
            flags = os.O_WRONLY | _O_DIRECT | os.O_CLOEXEC
            return os.open(f"/proc/self/fd/{self._target}", flags)
        except OSError:
            return -1  # no /proc, or a filesystem that does not do direct I/O

    def write(self, view: memoryview, offset: int) -> int:
        """Write the longest aligned head of ``view`` at ``offset`` straight to the
        device; returns how many bytes went (0 when none could). The caller writes
        the rest through the page cache."""
        if self._fd == -1 or offset % ALIGN or len(view) < ALIGN:
            return 0
        address = _address(view)
        if address is None or address % ALIGN:
            return 0
        if self._fd is None:
            self._fd = self._open()
            if self._fd < 0:
                return 0
        length = len(view) - len(view) % ALIGN
        done = 0
        try:
            while done < length:
                n = os.pwrite(self._fd, view[done:length], offset + done)
                if n <= 0 or n % ALIGN:
                    return done + max(n, 0)  # the rest is no longer aligned
                done += n
        except OSError as exc:
            if exc.errno != errno.EINVAL:
                raise
            self.close()  # the filesystem wants another alignment: buffered from now on
        return done

    def close(self) -> None:
        if self._fd is not None and self._fd >= 0:
            os.close(self._fd)
        self._fd = -1

    def __del__(self) -> None:
        self.close()
