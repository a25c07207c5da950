"""The Xet hashes (spec ``hashing.md``): keyed BLAKE3 over chunks, Merkle nodes,
files and term verification, and the protocol's string form of a hash.

BLAKE3 comes from the ``blake3`` package (the official Rust implementation's Python
binding, maintained by the BLAKE3 authors): keyed mode, releases the GIL on large
inputs, and is what the specification itself uses in its examples.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from blake3 import blake3

DATA_KEY = bytes(
    [
        102,
        151,
        245,
        119,
        91,
        149,
        80,
        222,
        49,
        53,
        203,
        172,
        165,
        151,
        24,
        28,
        157,
        228,
        33,
        16,
        155,
        235,
        43,
        88,
        180,
        208,
        176,
        75,
        147,
        173,
        242,
        41,
    ]
)
INTERNAL_NODE_KEY = bytes(
    [
        1,
        126,
        197,
        199,
        165,
        71,
        41,
        150,
        253,
        148,
        102,
        102,
        180,
        138,
        2,
        230,
        93,
        221,
        83,
        111,
        55,
        199,
        109,
        210,
        248,
        99,
        82,
        230,
        74,
        83,
        113,
        63,
    ]
)
VERIFICATION_KEY = bytes(
    [
        127,
        24,
        87,
        214,
        206,
        86,
        237,
        102,
        18,
        127,
        249,
        19,
        231,
        165,
        195,
        243,
        164,
        205,
        38,
        213,
        181,
        219,
        73,
        230,
        65,
        36,
        152,
        127,
        40,
        251,
        148,
        195,
    ]
)
ZERO_KEY = bytes(32)
#: Mean branching of the Merkle tree: a node ends where a child's hash is 0 mod 4.
BRANCHING = 4
#: A chunk the global dedup query indexes: its hash is 0 modulo this (spec
#: ``deduplication.md``), besides the first chunk of every file.
DEDUP_MODULUS = 1024

_HEX = re.compile(r"^[0-9a-f]{64}$")


def chunk_hash(data: bytes | memoryview) -> bytes:
    return blake3(data, key=DATA_KEY).digest()


def to_hex(h: bytes) -> str:
    """The protocol's string form: each 8-byte group as a little-endian u64 in hex."""
    return h[7::-1].hex() + h[15:7:-1].hex() + h[23:15:-1].hex() + h[31:23:-1].hex()


def from_hex(s: str) -> bytes | None:
    """The hash a string names, or None when it is not 64 lowercase hex digits."""
    if not _HEX.match(s):
        return None
    raw = bytes.fromhex(s)
    return raw[7::-1] + raw[15:7:-1] + raw[23:15:-1] + raw[31:23:-1]


def low_u64(h: bytes) -> int:
    """The last 8 bytes as a little-endian integer (what ``hash % n`` means)."""
    return int.from_bytes(h[24:32], "little")


def _node(group: Sequence[tuple[bytes, int]]) -> tuple[bytes, int]:
    text = "".join(f"{to_hex(h)} : {size}\n" for h, size in group)
    return blake3(text.encode(), key=INTERNAL_NODE_KEY).digest(), sum(s for _, s in group)


def _cut(level: Sequence[tuple[bytes, int]], start: int) -> int:
    left = len(level) - start
    if left <= 2:
        return left
    end = min(2 * BRANCHING + 1, left)
    for i in range(2, end):
        if low_u64(level[start + i][0]) % BRANCHING == 0:
            return i + 1
    return end


def merkle_root(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    """Root of the aggregated Merkle tree over (chunk hash, size) leaves: the xorb hash."""
    if not leaves:
        return bytes(32)
    level = list(leaves)
    while len(level) > 1:
        nxt: list[tuple[bytes, int]] = []
        i = 0
        while i < len(level):
            n = _cut(level, i)
            nxt.append(_node(level[i : i + n]))
            i += n
        level = nxt
    return level[0][0]


def file_hash(leaves: Sequence[tuple[bytes, int]]) -> bytes:
    return blake3(merkle_root(leaves), key=ZERO_KEY).digest()


def verification_hash(chunk_hashes: Iterable[bytes]) -> bytes:
    return blake3(b"".join(chunk_hashes), key=VERIFICATION_KEY).digest()


def keyed(h: bytes, key: bytes) -> bytes:
    """A chunk hash as the dedup answer shows it (spec: HMAC, a keyed BLAKE3)."""
    return blake3(h, key=key).digest()


def dedup_eligible(h: bytes) -> bool:
    return low_u64(h) % DEDUP_MODULUS == 0
