"""Uploads written past the page cache (``modelcommons/storage/direct.py``).

Real files on the test's own filesystem, written with real ``O_DIRECT`` system
calls; what lands is read back through another descriptor, and the kernel is asked
(``mincore``) which of the file's pages sit in the page cache.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import mmap
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelcommons.storage.blobs import LocalBlobStore
from modelcommons.storage.direct import ALIGN, DirectWrites
from modelcommons.storage.writeback import write_at

MiB = 1024 * 1024
pytestmark = pytest.mark.skipif(not hasattr(os, "O_DIRECT"), reason="O_DIRECT is Linux only")


def _filesystem(path: Path) -> str:
    """The type of the filesystem that holds ``path`` (from /proc/mounts)."""
    best, kind = "", ""
    for line in Path("/proc/mounts").read_text().splitlines():
        _, mount, fstype, *_ = line.split()
        if str(path).startswith(mount.rstrip("/") + "/") and len(mount) > len(best):
            best, kind = mount, fstype
    return kind


def _cached_pages(path: Path) -> int:
    """How many of the file's pages the page cache holds now (``mincore`` over a
    shared mapping of it, which reports the cache, not this process)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    size = path.stat().st_size
    vector = (ctypes.c_ubyte * (-(-size // mmap.PAGESIZE)))()
    with open(path, "r+b") as f, mmap.mmap(f.fileno(), size) as mapping:
        start = ctypes.c_char.from_buffer(mapping)
        try:
            if libc.mincore(ctypes.byref(start), ctypes.c_size_t(size), vector) != 0:
                raise OSError(ctypes.get_errno(), "mincore")
        finally:
            del start  # the mapping cannot close while ctypes holds it
    return sum(byte & 1 for byte in vector)


def _aligned_buffer(data: bytes) -> memoryview:
    """``data`` in a page-aligned buffer, as the socket body reader fills them."""
    buffer = mmap.mmap(-1, max(len(data), 1))
    buffer.write(data)
    return memoryview(buffer)[: len(data)]


@pytest.fixture
def new_file(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    path = tmp_path / "blob"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    yield fd, path
    os.close(fd)


def test_aligned_blocks_go_to_the_device_and_the_tail_through_the_cache(
    new_file: tuple[int, Path],
) -> None:
    if _filesystem(new_file[1]) == "tmpfs":
        pytest.skip("tmpfs takes O_DIRECT writes into its page cache")
    fd, path = new_file
    data = os.urandom(4 * MiB + 1234)
    direct = DirectWrites(fd)
    assert write_at(fd, [_aligned_buffer(data)], 0, direct) == len(data)
    assert direct.active
    os.fsync(fd)
    assert path.read_bytes() == data
    # Read back (that filled the cache): drop it, then count what writing leaves.
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.ftruncate(fd, 0)
    write_at(fd, [_aligned_buffer(data)], 0, direct)
    assert _cached_pages(path) <= 1  # at most the page of the 1234-byte tail
    direct.close()
    # The same bytes written without it: every page is in the cache.
    os.ftruncate(fd, 0)
    write_at(fd, [_aligned_buffer(data)], 0, None)
    assert _cached_pages(path) == -(-len(data) // mmap.PAGESIZE)


def test_what_cannot_go_direct_is_written_through_the_cache(new_file: tuple[int, Path]) -> None:
    """Read-only bytes, a buffer that starts off a page boundary, an offset off a
    block, a short buffer: each lands where it belongs, through the page cache."""
    fd, path = new_file
    direct = DirectWrites(fd)
    whole = _aligned_buffer(os.urandom(3 * ALIGN + 10))
    assert direct.write(memoryview(bytes(whole)), 0) == 0  # read-only
    assert direct.write(whole[1:], 0) == 0  # starts off a page
    assert direct.write(whole, 7) == 0  # off a block
    assert direct.write(whole[:100], 0) == 0  # shorter than a block
    assert direct.write(whole, 0) == 3 * ALIGN  # the aligned head only
    chunks: list[bytes | memoryview] = [
        b"head of 13 by",  # 13 bytes: everything after it is off a block
        whole,
        _aligned_buffer(b"x" * (2 * ALIGN)),
        bytes(range(256)) * 20,
    ]
    expected = b"".join(bytes(c) for c in chunks)
    os.ftruncate(fd, 0)
    assert write_at(fd, chunks, 0, direct) == len(expected)
    assert path.read_bytes() == expected
    # Aligned again: an offset on a block boundary past what is there.
    tail = _aligned_buffer(os.urandom(2 * ALIGN))
    at = 4 * ALIGN * 4
    assert write_at(fd, [tail], at, direct) == len(tail)
    assert path.read_bytes() == expected.ljust(at, b"\0") + bytes(tail)


def test_without_a_descriptor_to_reopen_every_write_is_buffered(
    new_file: tuple[int, Path],
) -> None:
    fd, path = new_file
    spare = os.dup(fd)
    os.close(spare)  # a number that names no open file: /proc/self/fd has nothing
    direct = DirectWrites(spare)
    data = _aligned_buffer(os.urandom(4 * ALIGN))
    assert direct.write(data, 0) == 0
    assert not direct.active
    assert write_at(fd, [data], 0, direct) == len(data)
    assert path.read_bytes() == bytes(data)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "buffered"])
def test_staged_blobs_and_multipart_parts_store_the_same_bytes(
    tmp_path: Path, direct: bool
) -> None:
    """Through the store, with ``direct_io`` on and off: a staged upload in whole
    buffers and a tail, and a multipart upload whose parts are written into the
    assembly at their offsets."""
    blobs = LocalBlobStore(tmp_path, direct=direct)
    data = os.urandom(3 * 2 * MiB + 999)
    staged = blobs.stage()
    for start in range(0, len(data), 2 * MiB):
        piece = _aligned_buffer(data[start : start + 2 * MiB])
        staged.writev([piece])
        staged.hash(piece)
    sha = hashlib.sha256(data).hexdigest()
    assert staged.sha256() == sha
    blobs.promote(staged, sha)
    stored = blobs.local_path(sha)
    assert stored is not None and stored.read_bytes() == data

    other = os.urandom(3 * MiB + 5)
    chunk = 2 * MiB
    upload = blobs.multipart("u1")
    for number, offset in enumerate(range(0, len(other), chunk), start=1):
        part = upload.open_part(number, offset)
        piece = _aligned_buffer(other[offset : offset + chunk])
        part.writev([piece])
        part.hash(piece)
        part.finish()
    assert upload.close()
    assembled, digest, size = upload.assemble(len(other), chunk)
    assert (digest, size) == (hashlib.sha256(other).hexdigest(), len(other))
    blobs.promote(assembled, digest)
    stored = blobs.local_path(digest)
    assert stored is not None and stored.read_bytes() == other


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_blob_that_gets_no_aligned_block_holds_one_descriptor(tmp_path: Path) -> None:
    """A commit holds every staged blob of its inline files open at once (10,000 in
    ``test_web_pages.py``): small files, and bytes that are not page-aligned, must
    not cost a second descriptor each."""
    blobs = LocalBlobStore(tmp_path, direct=True)
    before = _open_descriptors()
    staged = [blobs.stage() for _ in range(50)]
    for i, blob in enumerate(staged):
        blob.write(f"file {i}\n".encode())
        blob.writev([os.urandom(3 * ALIGN)])  # large, but read-only bytes
    assert _open_descriptors() - before == 50
    staged[0].writev([_aligned_buffer(os.urandom(2 * ALIGN))])
    assert _open_descriptors() - before == 50  # the offset is off a block
    big = blobs.stage()
    big.writev([_aligned_buffer(os.urandom(2 * ALIGN))])
    assert _open_descriptors() - before == 52  # this one went direct
    for blob in [*staged, big]:
        blob.discard()
    assert _open_descriptors() == before
