"""The Xet hashes against the specification's examples, and the streaming Merkle tree
against the level-by-level one (hf_xet itself checks both in tests/test_xet.py)."""

from __future__ import annotations

import random

from modelcommons.xet import hashing


def test_hash_strings_reverse_each_eight_bytes() -> None:
    h = bytes(range(32))
    # The specification's example (api.md) drops the byte 0x10 from its third group.
    assert hashing.to_hex(h) == ("07060504030201000f0e0d0c0b0a090817161514131211101f1e1d1c1b1a1918")
    assert hashing.from_hex(hashing.to_hex(h)) == h
    assert hashing.from_hex("XY" * 32) is None and hashing.from_hex("ab") is None


def test_streaming_merkle_root_equals_the_level_by_level_one() -> None:
    rng = random.Random(5)
    for n in [0, 1, 2, 3, 4, 5, 8, 9, 10, 17, 33, 100, 1000, 4097]:
        leaves = [(rng.randbytes(32), rng.randrange(1, 131072)) for _ in range(n)]
        builder = hashing.MerkleBuilder()
        for h, size in leaves:
            builder.add(h, size)
        assert builder.root() == hashing.merkle_root(leaves), n
        assert hashing.file_hash_of(builder) == hashing.file_hash(leaves)


def test_a_single_chunk_is_its_own_root() -> None:
    h = hashing.chunk_hash(b"x" * 10)
    assert hashing.merkle_root([(h, 10)]) == h
