"""Shards (spec ``shard.md``): read an uploaded shard as a stream, and write the
shard the global dedup query answers with.

An uploaded shard is a 48-byte header, the file info section (per file: a header,
its terms, one verification entry per term, the sha256 extension) ended by a
bookend, then the CAS info section (the new xorbs and their chunks) ended by a
bookend; the footer is omitted. Every count read is bounded before it is used.
"""

from __future__ import annotations

import dataclasses
import struct
import time
from collections.abc import Iterator, Sequence

from ..errors import BadRequest
from .xorbs import Chunk, Reader

TAG = b"HFRepoMetaData" + bytes(
    [0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169]
)
HEADER_VERSION = 2
FOOTER_VERSION = 1
FOOTER_SIZE = 200
BOOKEND = b"\xff" * 32
WITH_VERIFICATION = 1 << 31
WITH_METADATA = 1 << 30
#: Bounds on what one shard may declare.
MAX_SHARD_BYTES = 64 * 1024 * 1024
MAX_FILES = 100_000
MAX_TERMS = 1_000_000

_ENTRY = struct.Struct("<32sIIII")  # hash, flags/…, then three u32s (48 bytes)
_FILE = struct.Struct("<32sII8x")
_CAS = struct.Struct("<32sIIII")
_CHUNK = struct.Struct("<32sII8x")


class BadShard(BadRequest):
    code = "BadShard"


@dataclasses.dataclass(frozen=True)
class Term:
    xorb: bytes
    unpacked: int
    start: int
    end: int


@dataclasses.dataclass
class FileEntry:
    hash: bytes
    terms: list[Term]
    verification: list[bytes]
    sha256: bytes | None


@dataclasses.dataclass
class Shard:
    files: list[FileEntry]
    xorbs: list[bytes]


def _exact(reader: Reader, n: int, what: str) -> bytes:
    out = reader.read(n)
    if len(out) != n:
        raise BadShard(f"The shard ends inside {what}.")
    return out


def parse(blocks: Iterator[bytes]) -> Shard:
    reader = Reader(blocks)
    head = _exact(reader, 48, "its header")
    if head[:32] != TAG:
        raise BadShard("This is not a shard (wrong magic tag).")
    version, _footer_size = struct.unpack("<QQ", head[32:])
    if version != HEADER_VERSION:
        raise BadShard(f"Shard header version {version} is not {HEADER_VERSION}.")
    files: list[FileEntry] = []
    terms_seen = 0
    while True:
        fh, flags, count = _FILE.unpack(_exact(reader, 48, "a file entry"))
        if fh == BOOKEND:
            break
        if len(files) >= MAX_FILES or terms_seen + count > MAX_TERMS:
            raise BadShard("The shard describes too many files or terms.")
        terms_seen += count
        terms = []
        for _ in range(count):
            xorb, _flags, unpacked, start, end = _ENTRY.unpack(_exact(reader, 48, "a term"))
            terms.append(Term(xorb, unpacked, start, end))
        checks = []
        if flags & WITH_VERIFICATION:
            checks = [_exact(reader, 48, "a verification entry")[:32] for _ in range(count)]
        sha = _exact(reader, 48, "a metadata entry")[:32] if flags & WITH_METADATA else None
        files.append(FileEntry(fh, terms, checks, sha))
    xorbs: list[bytes] = []
    while True:
        xh, _flags, count, _raw, _disk = _CAS.unpack(_exact(reader, 48, "a xorb entry"))
        if xh == BOOKEND:
            break
        if len(xorbs) >= MAX_FILES or count > 1_000_000:
            raise BadShard("The shard describes too many xorbs or chunks.")
        for _ in range(count):
            _exact(reader, 48, "a chunk entry")
        xorbs.append(xh)
    # A footer, if a client sent one anyway, is ignored; nothing else may follow.
    rest = reader.read(FOOTER_SIZE + 1)
    if len(rest) not in (0, FOOTER_SIZE):
        raise BadShard("Unexpected bytes after the shard's sections.")
    return Shard(files, xorbs)


def _key(h: bytes) -> int:
    """A hash's lookup key: its first 8 bytes as a little-endian u64."""
    return int.from_bytes(h[:8], "little")


def dedup_answer(xorbs: Sequence[tuple[bytes, Sequence[Chunk]]], key: bytes, ttl: int) -> bytes:
    """A shard with no files and the given xorbs (chunk hashes already keyed with
    ``key`` by the caller), their lookup tables, and the footer that carries the key:
    what a client loads into its own shard cache to find chunks it holds."""
    out = bytearray(TAG + struct.pack("<QQ", HEADER_VERSION, FOOTER_SIZE))
    file_info = len(out)
    out += BOOKEND + bytes(16)
    cas_info = len(out)
    xorb_lookup: list[tuple[int, int]] = []
    chunk_lookup: list[tuple[int, int, int]] = []
    index = 0
    for xorb, chunks in sorted(xorbs, key=lambda x: _key(x[0])):
        xorb_lookup.append((_key(xorb), index))
        raw = sum(c.size for c in chunks)
        out += _CAS.pack(xorb, 0, len(chunks), raw, 0)
        position = 0
        for i, c in enumerate(chunks):
            out += _CHUNK.pack(c.hash, position, c.size)
            chunk_lookup.append((_key(c.hash), index, i))
            position += c.size
        index += 1 + len(chunks)
    out += BOOKEND + bytes(16)
    file_lookup = len(out)
    xorb_offset = len(out)
    for k, i in xorb_lookup:
        out += struct.pack("<QI", k, i)
    chunk_offset = len(out)
    for k, i, j in sorted(chunk_lookup):
        out += struct.pack("<QII", k, i, j)
    footer_offset = len(out)
    now = int(time.time())
    out += struct.pack("<5Q", FOOTER_VERSION, file_info, cas_info, file_lookup, 0)
    out += struct.pack("<QQQQ", xorb_offset, len(xorb_lookup), chunk_offset, len(chunk_lookup))
    out += key + struct.pack("<QQ", now, now + ttl) + bytes(48)
    out += struct.pack("<QQQQ", 0, 0, 0, footer_offset)
    assert len(out) - footer_offset == FOOTER_SIZE
    return bytes(out)
