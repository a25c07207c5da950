"""Xorbs (spec ``xorb.md``): read a serialised xorb as a stream, chunk by chunk,
check every header, decompress and hash every chunk, and compute the xorb hash.

A xorb is a run of chunks, each an 8-byte header (version 0, compressed size u24,
scheme u8, uncompressed size u24, little-endian) and its bytes, optionally followed
by the footer ``hf_xet`` writes (ident ``XETBLOB``, version, xorb hash, the chunk
hashes, boundaries, a nonce). Nothing here trusts a size it read: a chunk is at
most 128 KiB both ways, a decompressor never produces more than the header
announced, and only one chunk is in memory at a time.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Iterator, Sequence
from typing import overload

import lz4.frame

from ..errors import BadRequest
from . import hashing

MAX_CHUNK = 128 * 1024
#: The spec's limit on a serialised xorb, plus room for the footer.
MAX_XORB_BYTES = 64 * 1024 * 1024 + 2 * 1024 * 1024
MAX_CHUNKS = 16 * 1024
FOOTER_IDENT = b"XETBLOB"
HASHES_IDENT = b"XBLBHSH"
_HEADER = struct.Struct("<B3sB3s")
#: Per chunk in ``XetXorb.chunks``: hash, offset of its header, unpacked size.
INDEX = struct.Struct("<32sII")


class BadXorb(BadRequest):
    code = "BadXorb"


@dataclasses.dataclass(frozen=True)
class Chunk:
    hash: bytes
    offset: int  # of its header in the serialisation
    size: int  # unpacked


@dataclasses.dataclass
class ParsedXorb:
    hash: bytes
    chunks: list[Chunk]
    data_end: int

    @property
    def unpacked(self) -> int:
        return sum(c.size for c in self.chunks)

    def index(self) -> bytes:
        return b"".join(INDEX.pack(c.hash, c.offset, c.size) for c in self.chunks)


class Reader:
    """Exact reads over an iterator of byte blocks (a staged file, a blob range),
    copying only the bytes asked for."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._block = b""
        self._pos = 0
        self.position = 0

    def read(self, n: int) -> bytes:
        """Up to ``n`` bytes; fewer only at the end."""
        end = self._pos + n
        if end <= len(self._block):
            out = self._block[self._pos : end]
            self._pos = end
        else:
            parts = [self._block[self._pos :]]
            got = len(parts[0])
            self._block, self._pos = b"", 0
            while got < n:
                block = next(self._blocks, None)
                if block is None:
                    break
                take = min(n - got, len(block))
                parts.append(block[:take])
                got += take
                self._block, self._pos = block, take
            out = b"".join(parts)
        self.position += len(out)
        return out

    def unread(self, data: bytes) -> None:
        """Give back bytes just read (to look at them again)."""
        self._block = data + self._block[self._pos :]
        self._pos = 0
        self.position -= len(data)

    def exact(self, n: int, what: str) -> bytes:
        out = self.read(n)
        if len(out) != n:
            raise BadXorb(f"The xorb ends inside {what}.")
        return out


def _u24(b: bytes) -> int:
    return int.from_bytes(b, "little")


def ungroup4(data: bytes) -> bytes:
    """Undo byte grouping: four groups (the first ``n % 4`` one byte longer) back
    into interleaved order."""
    n = len(data)
    out = bytearray(n)
    pos = 0
    for i in range(4):
        length = n // 4 + (1 if i < n % 4 else 0)
        out[i::4] = data[pos : pos + length]
        pos += length
    return bytes(out)


def _lz4(payload: bytes, size: int) -> bytes:
    decoder = lz4.frame.LZ4FrameDecompressor()
    try:
        out = decoder.decompress(payload, max_length=size + 1)
    except RuntimeError as exc:
        raise BadXorb(f"A chunk does not decompress: {exc}") from exc
    if len(out) != size or not decoder.eof:
        raise BadXorb("A chunk does not decompress to the size its header announces.")
    return bytes(out)


def decode_chunk(scheme: int, payload: bytes, size: int) -> bytes:
    if scheme == 0:
        if len(payload) != size:
            raise BadXorb("An uncompressed chunk's sizes disagree.")
        return payload
    if scheme == 1:
        return _lz4(payload, size)
    if scheme == 2:
        return ungroup4(_lz4(payload, size))
    raise BadXorb(f"Unknown chunk compression scheme {scheme}.")


def read_chunk(reader: Reader) -> tuple[bytes, int] | None:
    """The next chunk's unpacked bytes and serialised length, None at the footer or end."""
    head = reader.read(_HEADER.size)
    if not head:
        return None
    if len(head) < _HEADER.size or head[:1] == FOOTER_IDENT[:1]:
        reader.unread(head)  # not a chunk: give the bytes back for the footer
        return None
    version, csize_b, scheme, size_b = _HEADER.unpack(head)
    csize, size = _u24(csize_b), _u24(size_b)
    if version != 0:
        raise BadXorb(f"Chunk header version {version} is not 0.")
    if not 0 < size <= MAX_CHUNK or not 0 < csize <= MAX_CHUNK + 1024:
        raise BadXorb("A chunk's header announces an impossible size.")
    payload = reader.exact(csize, "a chunk")
    return decode_chunk(scheme, payload, size), _HEADER.size + csize


def parse(blocks: Iterator[bytes], expected: bytes) -> ParsedXorb:
    """Verify a serialised xorb against the hash it was uploaded as."""
    reader = Reader(blocks)
    chunks: list[Chunk] = []
    while True:
        offset = reader.position
        got = read_chunk(reader)
        if got is None:
            break
        data, _ = got
        chunks.append(Chunk(hashing.chunk_hash(data), offset, len(data)))
        if len(chunks) > MAX_CHUNKS:
            raise BadXorb(f"A xorb holds at most {MAX_CHUNKS} chunks.")
    if not chunks:
        raise BadXorb("The xorb holds no chunk.")
    data_end = reader.position
    actual = hashing.merkle_root([(c.hash, c.size) for c in chunks])
    if actual != expected:
        raise BadXorb(
            f"The xorb's chunks hash to {hashing.to_hex(actual)}, not {hashing.to_hex(expected)}."
        )
    _check_footer(reader, actual, chunks)
    return ParsedXorb(actual, chunks, data_end)


def _check_footer(reader: Reader, xorb_hash: bytes, chunks: list[Chunk]) -> None:
    """The footer, when there is one, must describe these chunks."""
    ident = reader.read(len(FOOTER_IDENT))
    if not ident:
        return
    if ident != FOOTER_IDENT:
        raise BadXorb("Bytes after the last chunk are not a xorb footer.")
    reader.exact(1, "the footer")  # version
    if reader.exact(32, "the footer") != xorb_hash:
        raise BadXorb("The xorb footer names another xorb hash.")
    if reader.exact(len(HASHES_IDENT), "the footer") != HASHES_IDENT:
        raise BadXorb("The xorb footer has no chunk hash section.")
    reader.exact(1, "the footer")
    (count,) = struct.unpack("<I", reader.exact(4, "the footer"))
    if count != len(chunks):
        raise BadXorb("The xorb footer counts another number of chunks.")
    for c in chunks:
        if reader.exact(32, "the footer") != c.hash:
            raise BadXorb("The xorb footer lists another chunk hash.")
    rest = reader.read(16 * len(chunks) + 4096)
    if reader.read(1):
        raise BadXorb("The xorb footer is too long.")
    del rest


class ChunkIndex(Sequence[Chunk]):
    """A stored xorb's chunks, read from its packed index as they are asked for: 40
    bytes a chunk in memory, whatever the file's size."""

    def __init__(self, index: bytes) -> None:
        if len(index) % INDEX.size:
            raise ValueError("a chunk index is a whole number of entries")
        self._index = index

    def __len__(self) -> int:
        return len(self._index) // INDEX.size

    @overload
    def __getitem__(self, i: int) -> Chunk: ...
    @overload
    def __getitem__(self, i: slice) -> Sequence[Chunk]: ...
    def __getitem__(self, i: int | slice) -> Chunk | Sequence[Chunk]:
        if isinstance(i, slice):
            start, stop, step = i.indices(len(self))
            if step != 1:
                raise ValueError("contiguous slices only")
            return ChunkIndex(self._index[start * INDEX.size : max(stop, start) * INDEX.size])
        if i < 0:
            i += len(self)
        if not 0 <= i < len(self):
            raise IndexError(i)
        return Chunk(*INDEX.unpack_from(self._index, i * INDEX.size))


def unpack_index(index: bytes) -> ChunkIndex:
    return ChunkIndex(index)
