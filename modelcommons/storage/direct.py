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
writing, reopened through ``/proc/self/fd`` so that it follows the file, not its
name (multipart assemblies are renamed while written). Where that fails (no
``/proc``, a filesystem without direct I/O), or where the kernel refuses a direct
write as misaligned, writes go through the page cache as before: the bytes are
the same either way, and so is the final ``fsync`` that makes them durable.

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

    Not thread-safe: the owner (a staged blob, a part writer) calls it under the
    lock that guards its own descriptor.
    """

    def __init__(self, fd: int) -> None:
        self._fd = -1
        if not _O_DIRECT:
            return
        try:
            self._fd = os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | _O_DIRECT | os.O_CLOEXEC)
        except OSError:
            self._fd = -1  # no /proc, or a filesystem that does not do direct I/O

    @property
    def active(self) -> bool:
        return self._fd >= 0

    def write(self, view: memoryview, offset: int) -> int:
        """Write the longest aligned head of ``view`` at ``offset`` straight to the
        device; returns how many bytes went (0 when none could). The caller writes
        the rest through the page cache."""
        if self._fd < 0 or offset % ALIGN or len(view) < ALIGN:
            return 0
        address = _address(view)
        if address is None or address % ALIGN:
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
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self) -> None:
        self.close()
