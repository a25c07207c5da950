"""Git object encoding: blob, tree and commit ids exactly as git computes them.

Only the encoding lives here; where objects are stored is the database's job.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable

FILE_MODE = b"100644"
EXEC_MODE = b"100755"
DIR_MODE = b"40000"
LFS_SPEC = "https://git-lfs.github.com/spec/v1"


def object_id(kind: str, payload: bytes) -> str:
    header = f"{kind} {len(payload)}\0".encode()
    return hashlib.sha1(header + payload, usedforsecurity=False).hexdigest()


def blob_hasher(size: int) -> hashlib._Hash:
    """A sha1 primed with the git blob header, to hash streamed content."""
    h = hashlib.sha1(usedforsecurity=False)
    h.update(f"blob {size}\0".encode())
    return h


def lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version {LFS_SPEC}\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclasses.dataclass(frozen=True)
class TreeEntry:
    name: str
    oid: str
    is_dir: bool
    #: A file with git's executable mode (``100755``): pushed over git, kept as pushed.
    executable: bool = False

    @property
    def mode(self) -> bytes:
        if self.is_dir:
            return DIR_MODE
        return EXEC_MODE if self.executable else FILE_MODE

    def sort_key(self) -> bytes:
        # git orders trees as if directory names ended with "/".
        raw = self.name.encode()
        return raw + b"/" if self.is_dir else raw


def encode_tree(entries: Iterable[TreeEntry]) -> bytes:
    out = bytearray()
    for e in sorted(entries, key=TreeEntry.sort_key):
        out += e.mode + b" " + e.name.encode() + b"\0"
        out += bytes.fromhex(e.oid)
    return bytes(out)


def decode_tree(payload: bytes) -> list[TreeEntry]:
    entries: list[TreeEntry] = []
    pos = 0
    while pos < len(payload):
        space = payload.index(b" ", pos)
        nul = payload.index(b"\0", space)
        mode = payload[pos:space]
        name = payload[space + 1 : nul].decode()
        oid = payload[nul + 1 : nul + 21].hex()
        entries.append(
            TreeEntry(name=name, oid=oid, is_dir=mode == DIR_MODE, executable=mode == EXEC_MODE)
        )
        pos = nul + 21
    return entries


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    email: str
    timestamp: int

    def encode(self) -> str:
        return f"{self.name} <{self.email}> {self.timestamp} +0000"


def encode_commit(tree: str, parents: Iterable[str], author: Signature, message: str) -> bytes:
    lines = [f"tree {tree}"]
    lines += [f"parent {p}" for p in parents]
    lines += [f"author {author.encode()}", f"committer {author.encode()}"]
    body = message if message.endswith("\n") else message + "\n"
    return ("\n".join(lines) + "\n\n" + body).encode()


EMPTY_TREE_ID = object_id("tree", b"")
