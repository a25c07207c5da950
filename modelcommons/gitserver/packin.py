"""Pushed packs, read and checked object by object before anything is kept.

Why dulwich: it is pure Python (nothing to build, no native library to keep in
step), maintained, and reads packs the way git does: ``unpack_object_at`` inflates
each object and ``UnpackedObjectIterator`` resolves delta chains, each object
once, computing every object id from the bytes (a pack carries no ids, so none
can be forged). pygit2 binds libgit2, whose pack indexer wants a repository on
disk to write into; the hub keeps its objects in its database and blob store.

What is checked here, per object: the pack's trailing checksum; a declared size,
and for a delta the size it will make, under ``git_max_object_bytes`` before any
inflating (a small pack must not inflate to gigabytes), and all objects together
under ``git_max_push_bytes``; no delta base outside the pack (the hub announces
``no-thin``) and no delta cycle; trees and commits well-formed (dulwich's
``check``, then the hub's stricter rules in :mod:`.checks`). File contents that
are not LFS pointers go to the blob store as they are read (sha256 verified by
the store's own rules); nothing references them until the push's transaction.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import mmap
import re
import zlib
from typing import IO, TYPE_CHECKING

from dulwich.errors import ObjectFormatException
from dulwich.object_format import DEFAULT_OBJECT_FORMAT
from dulwich.objects import Commit, ShaFile, Tree, parse_tree
from dulwich.pack import (
    DELTA_TYPES,
    UnpackedObjectIterator,
    UnresolvedDeltas,
    read_pack_header_at,
    unpack_object_at,
)

from ..errors import BadRequest, HubError, PayloadTooLarge
from ..storage.gitobjects import TreeEntry, decode_tree, lfs_pointer
from ..validation.names import check_path

if TYPE_CHECKING:
    from ..hub import Hub

COMMIT, TREE, BLOB, TAG = 1, 2, 3, 4
_POINTER = re.compile(
    rb"^version https://git-lfs\.github\.com/spec/v1\n"
    rb"oid sha256:([0-9a-f]{64})\nsize (0|[1-9][0-9]{0,18})\n$"
)


class BadPack(HubError):
    """A pack that is not what git writes, or breaks a limit: the push is refused."""

    status = 400
    code = "BadPack"


@dataclasses.dataclass(frozen=True)
class PushedCommit:
    raw: bytes
    tree: str
    parents: tuple[str, ...]
    time: int  # committer time, seconds since the epoch
    message: str


@dataclasses.dataclass
class Received:
    """What a pack holds, by object id."""

    commits: dict[str, PushedCommit] = dataclasses.field(default_factory=dict)
    trees: dict[str, tuple[bytes, list[TreeEntry]]] = dataclasses.field(default_factory=dict)
    #: ``file_blobs`` rows for the files: stored bytes, or LFS pointers.
    blobs: dict[str, dict[str, object]] = dataclasses.field(default_factory=dict)
    #: Files too large to be anything but LFS files (id to size); not stored.
    too_large: dict[str, int] = dataclasses.field(default_factory=dict)
    tags: set[str] = dataclasses.field(default_factory=set)

    def kind(self, oid: str) -> str | None:
        if oid in self.commits:
            return "commit"
        if oid in self.trees:
            return "tree"
        if oid in self.blobs or oid in self.too_large:
            return "blob"
        return "tag" if oid in self.tags else None


def _declared(contents: mmap.mmap, offset: int) -> tuple[int, int]:
    """(type, size) from an object's header, read before dulwich inflates it."""
    if offset >= len(contents):
        raise BadPack("The pack ends before its last object.")
    byte = contents[offset]
    kind, size, shift = (byte >> 4) & 7, byte & 15, 4
    while byte & 0x80:
        offset += 1
        if offset >= len(contents) or shift > 63:
            raise BadPack("An object header in the pack is malformed.")
        byte = contents[offset]
        size |= (byte & 0x7F) << shift
        shift += 7
    return kind, size


def _delta_target(chunks: list[bytes]) -> int:
    """The size a delta makes: its second varint (after the base's size)."""
    data = b"".join(chunks)[:20]
    pos, value = 0, 0
    for _ in range(2):
        value, shift = 0, 0
        while True:
            if pos >= len(data) or shift > 63:
                raise BadPack("A delta in the pack is malformed.")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                break
    return value


def verify_checksum(contents: mmap.mmap) -> None:
    if len(contents) < 32:
        raise BadPack("The pack is too short.")
    sha = hashlib.sha1(usedforsecurity=False)
    for start in range(0, len(contents) - 20, 1 << 20):
        sha.update(contents[start : min(start + (1 << 20), len(contents) - 20)])
    if sha.digest() != contents[-20:]:
        raise BadPack("The pack's checksum does not match its contents (truncated or corrupt).")


def read_pack(hub: Hub, f: IO[bytes], size: int) -> Received:
    """Every object of the pack in ``f`` (``size`` bytes), checked."""
    received = Received()
    if size == 0:
        return received
    settings = hub.settings
    contents = mmap.mmap(f.fileno(), size, access=mmap.ACCESS_READ)
    try:
        verify_checksum(contents)
        try:
            _version, count = read_pack_header_at(contents)
        except AssertionError as exc:
            raise BadPack(f"Not a git pack: {exc}") from exc
        hash_func = DEFAULT_OBJECT_FORMAT.hash_func
        walker = UnpackedObjectIterator(f, hash_func, object_format=DEFAULT_OBJECT_FORMAT)
        offset, total = 12, 0
        try:
            for _ in range(count):
                kind, declared = _declared(contents, offset)
                if declared > settings.git_max_object_bytes:
                    raise PayloadTooLarge(
                        f"An object in the pack is {declared} bytes; the limit is "
                        f"{settings.git_max_object_bytes} (large files go through git lfs)."
                    )
                unpacked, offset = unpack_object_at(contents, offset, hash_func)
                made = declared
                if kind in DELTA_TYPES:
                    made = _delta_target(unpacked.decomp_chunks)
                    if made > settings.git_max_object_bytes:
                        raise PayloadTooLarge(
                            f"A delta in the pack makes a {made}-byte object; the limit is "
                            f"{settings.git_max_object_bytes}."
                        )
                total += made
                if total > settings.git_max_push_bytes:
                    raise PayloadTooLarge(
                        f"The pack unpacks to more than {settings.git_max_push_bytes} bytes."
                    )
                unpacked.decomp_chunks = []
                walker.record(unpacked)
            if offset != size - 20:
                raise BadPack("The pack has bytes after its last object.")
            for unpacked in walker:
                assert unpacked.obj_type_num is not None and unpacked.obj_chunks is not None
                _take(hub, received, unpacked.obj_type_num, unpacked.obj_chunks)
        except UnresolvedDeltas as exc:
            raise BadPack(
                "The pack has deltas against objects it does not hold (or a delta cycle); "
                "this hub takes complete packs (it announces no-thin)."
            ) from exc
        except HubError:
            raise
        except (ObjectFormatException, zlib.error, AssertionError, ValueError, KeyError) as exc:
            raise BadPack(f"The pack is malformed: {exc}") from exc
        except Exception as exc:  # dulwich's own errors (ApplyDeltaError...) on hostile bytes
            raise BadPack(f"The pack is malformed: {type(exc).__name__}") from exc
    finally:
        # A view into it may live on in an exception's frames: freed with them.
        with contextlib.suppress(BufferError):
            contents.close()
    return received


def _take(hub: Hub, received: Received, kind: int, chunks: list[bytes]) -> None:
    obj = ShaFile.from_raw_chunks(kind, chunks, object_format=DEFAULT_OBJECT_FORMAT)
    oid = obj.id.decode()
    if kind == BLOB:
        _blob(hub, received, oid, b"".join(chunks))
    elif kind == TREE:
        assert isinstance(obj, Tree)
        obj.check()
        raw = b"".join(chunks)
        _check_entries(hub, oid, raw)
        received.trees[oid] = (raw, decode_tree(raw))
    elif kind == COMMIT:
        assert isinstance(obj, Commit)
        obj.check()
        if len(obj.message) > hub.settings.max_commit_message_bytes:
            raise BadPack(f"Commit {oid}'s message is longer than the limit.")
        received.commits[oid] = PushedCommit(
            raw=b"".join(chunks),
            tree=obj.tree.decode(),
            parents=tuple(p.decode() for p in obj.parents),
            time=obj.commit_time,
            message=obj.message.decode("utf-8", "replace"),
        )
    elif kind == TAG:
        received.tags.add(oid)
    else:
        raise BadPack(f"Unknown object type {kind} in the pack.")


#: Tree entry modes the hub keeps: files, executable files, folders.
_MODES = {0o100644: "file", 0o100755: "file", 0o040000: "folder"}
_REFUSED_MODES = {
    0o120000: "symbolic links are not supported",
    0o160000: "submodules are not supported",
}


def _check_entries(hub: Hub, oid: str, raw: bytes) -> None:
    """Modes the hub keeps, and every name a valid path segment (``check_path``:
    no ``..``, ``.git`` in any case, backslash or control character), each name
    once whether file or folder (read from the raw entries: dulwich keeps a dict)."""
    names: set[bytes] = set()
    for name, mode, _ in parse_tree(raw, sha_len=20, strict=True):
        if mode not in _MODES:
            why = _REFUSED_MODES.get(mode, f"mode {mode:o} is not a file or folder mode")
            raise BadPack(f"Tree {oid}: {name!r}: {why}.")
        if name in names:
            raise BadPack(f"Tree {oid} names {name!r} twice.")
        names.add(name)
        try:
            check_path(name.decode("utf-8"), hub.settings.max_path_length)
        except UnicodeDecodeError as exc:
            raise BadPack(f"Tree {oid}: a name is not UTF-8: {name!r}.") from exc
        except BadRequest as exc:
            raise BadPack(f"Tree {oid}: {exc.message}") from exc


def _blob(hub: Hub, received: Received, oid: str, data: bytes) -> None:
    pointer = _POINTER.match(data) if len(data) < 200 else None
    if pointer is not None and data == lfs_pointer(pointer[1].decode(), int(pointer[2])):
        sha256, size = pointer[1].decode(), int(pointer[2])
        received.blobs[oid] = {"oid": oid, "size": size, "sha256": sha256, "lfs": True}
        return
    if len(data) >= hub.settings.lfs_threshold_bytes:
        received.too_large[oid] = len(data)
        return
    sha256 = hub.store_bytes(data)
    received.blobs[oid] = {"oid": oid, "size": len(data), "sha256": sha256, "lfs": False}
