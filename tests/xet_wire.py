"""Hand-built Xet wire bodies for hostile-input tests: xorbs (uncompressed chunks)
and shards, written from the specification's layouts."""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence

from modelcommons.xet import hashing

SHARD_TAG = b"HFRepoMetaData" + bytes(
    [0, 85, 105, 103, 69, 106, 123, 129, 87, 131, 165, 189, 217, 92, 205, 209, 74, 169]
)
BOOKEND = b"\xff" * 32 + bytes(16)


def xorb(chunks: Sequence[bytes]) -> tuple[str, bytes]:
    """(xorb hash string, serialised xorb) for uncompressed chunks."""
    body = b"".join(
        struct.pack("<B", 0)
        + len(c).to_bytes(3, "little")
        + b"\0"
        + len(c).to_bytes(3, "little")
        + c
        for c in chunks
    )
    root = hashing.merkle_root([(hashing.chunk_hash(c), len(c)) for c in chunks])
    return hashing.to_hex(root), body


def shard(
    files: Sequence[tuple[Sequence[bytes], str, Sequence[tuple[str, int, int]]]],
    *,
    sha256: str | None = None,
    verification: bytes | None = None,
) -> bytes:
    """Files given as (their chunks, ignored, terms (xorb hash, start, end)) where the
    terms' chunks are the file's chunks in order; the file hash and verification
    hashes are computed from those chunks unless overridden."""
    out = bytearray(SHARD_TAG + struct.pack("<QQ", 2, 0))
    for chunks, _, terms in files:
        data = b"".join(chunks)
        leaves = [(hashing.chunk_hash(c), len(c)) for c in chunks]
        out += hashing.file_hash(leaves) + struct.pack("<II", 0xC0000000, len(terms)) + bytes(8)
        position = 0
        checks = []
        for xorb_hex, start, end in terms:
            n = end - start
            part = chunks[position : position + n]
            position += n
            raw = hashing.from_hex(xorb_hex)
            assert raw is not None
            out += raw + struct.pack("<IIII", 0, sum(len(c) for c in part), start, end)
            checks.append(
                verification or hashing.verification_hash(hashing.chunk_hash(c) for c in part)
            )
        for check in checks:
            out += check + bytes(16)
        digest = sha256 or hashlib.sha256(data).hexdigest()
        raw_sha = hashing.from_hex(digest)
        assert raw_sha is not None
        out += raw_sha + bytes(16)
    out += BOOKEND + BOOKEND
    return bytes(out)


def file_id(chunks: Sequence[bytes]) -> str:
    return hashing.to_hex(hashing.file_hash([(hashing.chunk_hash(c), len(c)) for c in chunks]))
