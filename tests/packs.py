"""Hand-made git packs and push requests, for sending hostile bytes to the hub."""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Sequence

COMMIT, TREE, BLOB, TAG, OFS_DELTA, REF_DELTA = 1, 2, 3, 4, 6, 7
ZERO = "0" * 40


def object_id(kind: str, data: bytes) -> str:
    return hashlib.sha1(f"{kind} {len(data)}\0".encode() + data).hexdigest()


def header(kind: int, size: int) -> bytes:
    out = bytearray()
    byte = (kind << 4) | (size & 15)
    size >>= 4
    while size:
        out.append(byte | 0x80)
        byte = size & 0x7F
        size >>= 7
    out.append(byte)
    return bytes(out)


def varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def insert_delta(base_size: int, target: bytes) -> bytes:
    """A delta that makes ``target`` by inserting it (up to 127 bytes)."""
    assert len(target) <= 127
    return varint(base_size) + varint(len(target)) + bytes([len(target)]) + target


def entry(kind: int, data: bytes, *, declared: int | None = None, base: bytes = b"") -> bytes:
    """One packed object: header (with ``declared`` as its size, if given), the
    delta base (a 20-byte id for REF_DELTA, an offset varint for OFS_DELTA), data."""
    size = len(data) if declared is None else declared
    return header(kind, size) + base + zlib.compress(data)


def pack(entries: Sequence[bytes], *, count: int | None = None) -> bytes:
    body = (
        b"PACK"
        + (2).to_bytes(4, "big")
        + (len(entries) if count is None else count).to_bytes(4, "big")
    )
    body += b"".join(entries)
    return body + hashlib.sha1(body).digest()


def tree(*items: tuple[bytes, bytes, str]) -> bytes:
    """Raw tree bytes from (mode, name, id), in the order given."""
    return b"".join(mode + b" " + name + b"\0" + bytes.fromhex(oid) for mode, name, oid in items)


def commit(tree_id: str, *parents: str, message: str = "hostile") -> bytes:
    lines = [f"tree {tree_id}", *[f"parent {p}" for p in parents]]
    lines += ["author M <m@example.org> 1700000000 +0000"] * 1
    lines += ["committer M <m@example.org> 1700000000 +0000", "", message]
    return ("\n".join(lines) + "\n").encode()


def pkt(data: bytes) -> bytes:
    return f"{len(data) + 4:04x}".encode() + data


def push_body(commands: Sequence[tuple[str, str, str]], pack_bytes: bytes) -> bytes:
    out = b""
    for i, (old, new, ref) in enumerate(commands):
        caps = b"\0report-status agent=test" if i == 0 else b""
        out += pkt(f"{old} {new} {ref}".encode() + caps + b"\n")
    return out + b"0000" + pack_bytes


def report(body: bytes) -> list[str]:
    """The lines of a report-status answer (no side-band)."""
    lines, pos = [], 0
    while pos < len(body):
        length = int(body[pos : pos + 4], 16)
        if length == 0:
            pos += 4
            continue
        lines.append(body[pos + 4 : pos + length].decode().rstrip("\n"))
        pos += length
    return lines
