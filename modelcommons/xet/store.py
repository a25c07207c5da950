"""Verified xorbs and files in the database, and files reconstructed from xorbs.

Rules kept here:

- A xorb row exists only for bytes the hub parsed and hashed itself (``xorbs.parse``),
  stored as a blob named by their sha256.
- A file row, and the LFS object (sha256) that names it, exist only once every term
  was checked against stored xorbs, the file hash recomputed from the chunk hashes,
  and the file reconstructed and its sha256 computed here, streamed: **a sha256 the
  hub has not computed itself never names bytes**.
- A client builds only on xorbs it may read: those uploaded to or used by the
  repository its token is for, or by a repository whose every file it may download.
"""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..accounts import Principal
from ..db.schema import (
    LfsObject,
    Repo,
    RepoLfsObject,
    XetDedup,
    XetFile,
    XetXorb,
    XetXorbRepo,
    XetXorbUploader,
)
from ..db.sqlutil import insert_ignore
from ..errors import BadRequest, HubError, PayloadTooLarge
from ..governance import access
from ..storage.blobs import BlobStore, StagedBlob
from . import hashing, shards, xorbs
from .xorbs import Chunk, Reader

_TERM = struct.Struct("<32sIII")


class BadFile(BadRequest):
    code = "BadShard"


@dataclasses.dataclass(frozen=True)
class StoredXorb:
    hash: str
    blob: str
    chunks: Sequence[Chunk]
    data_end: int

    def byte_range(self, start: int, end: int) -> tuple[int, int]:
        """Where chunks ``start..end`` (end exclusive) lie in the serialisation."""
        stop = self.chunks[end].offset if end < len(self.chunks) else self.data_end
        return self.chunks[start].offset, stop


def load_xorbs(session: Session, hexes: Iterable[str]) -> dict[str, StoredXorb]:
    wanted = sorted(set(hexes))
    out: dict[str, StoredXorb] = {}
    for i in range(0, len(wanted), 500):
        for row in session.scalars(select(XetXorb).where(XetXorb.hash.in_(wanted[i : i + 500]))):
            out[row.hash] = StoredXorb(
                row.hash, row.blob, xorbs.unpack_index(row.chunks), row.data_end
            )
    return out


def usable(
    session: Session, principal: Principal | None, repo_id: int, hexes: Iterable[str]
) -> set[str]:
    """The xorbs among ``hexes`` the caller may build on or learn about: those they
    sent themselves, and those of repositories they may download every file of."""
    wanted = sorted(set(hexes))
    own: set[str] = set()
    if principal is not None:
        for i in range(0, len(wanted), 500):
            own.update(
                session.scalars(
                    select(XetXorbUploader.xorb).where(
                        XetXorbUploader.account_id == principal.user_id,
                        XetXorbUploader.xorb.in_(wanted[i : i + 500]),
                    )
                )
            )
    links: dict[str, set[int]] = {}
    for i in range(0, len(wanted), 500):
        rows = session.execute(
            select(XetXorbRepo.xorb, XetXorbRepo.repo_id).where(
                XetXorbRepo.xorb.in_(wanted[i : i + 500])
            )
        )
        for xorb, rid in rows:
            links.setdefault(xorb, set()).add(rid)
    verdict: dict[int, bool] = {repo_id: True}

    def readable(rid: int) -> bool:
        if rid not in verdict:
            repo = session.get(Repo, rid)
            try:
                verdict[rid] = repo is not None and (
                    access.content(session, principal, repo).may_download_all()
                )
            except HubError:
                verdict[rid] = False
        return verdict[rid]

    return own | {x for x, rids in links.items() if any(readable(r) for r in sorted(rids))}


def store_xorb(
    session_factory: object, blobs: BlobStore, staged: StagedBlob, expected: bytes
) -> xorbs.ParsedXorb:
    """Parse and verify a staged xorb, then keep it (blocking)."""
    del session_factory
    parsed = xorbs.parse(staged.read_all(), expected)
    blobs.promote(staged, staged.sha256())
    return parsed


def register_xorb(
    session: Session,
    parsed: xorbs.ParsedXorb,
    blob: str,
    repo_id: int,
    uploader: int | None = None,
) -> bool:
    """Record a verified, stored xorb, the repository it came to and the account that
    sent its bytes (``uploader``); False when the xorb was known already."""
    name = hashing.to_hex(parsed.hash)
    known = session.get(XetXorb, name) is not None
    if not known:
        insert_ignore(
            session,
            XetXorb,
            [
                {
                    "hash": name,
                    "blob": blob,
                    "num_chunks": len(parsed.chunks),
                    "data_end": parsed.data_end,
                    "unpacked": parsed.unpacked,
                    "chunks": parsed.index(),
                }
            ],
        )
        eligible = [
            c for i, c in enumerate(parsed.chunks) if i == 0 or hashing.dedup_eligible(c.hash)
        ]
        insert_ignore(
            session, XetDedup, [{"chunk": hashing.to_hex(c.hash), "xorb": name} for c in eligible]
        )
    insert_ignore(session, XetXorbRepo, [{"xorb": name, "repo_id": repo_id}])
    if uploader is not None:
        insert_ignore(session, XetXorbUploader, [{"xorb": name, "account_id": uploader}])
    return not known


# --- files -------------------------------------------------------------------


def pack_terms(terms: Sequence[shards.Term]) -> bytes:
    return b"".join(_TERM.pack(t.xorb, t.start, t.end, t.unpacked) for t in terms)


def unpack_terms(data: bytes) -> list[shards.Term]:
    return [shards.Term(x, u, s, e) for x, s, e, u in _TERM.iter_unpack(data)]


def check_file(
    entry: shards.FileEntry, stored: dict[str, StoredXorb], allowed: set[str], max_bytes: int
) -> int:
    """Check a file's terms against stored xorbs; its size. No bytes read yet."""
    if not entry.terms:
        raise BadFile("A file in the shard has no terms.")
    if len(entry.verification) != len(entry.terms):
        raise BadFile("Every term of an uploaded file needs its verification entry.")
    tree = hashing.MerkleBuilder()
    total = 0
    for term, check in zip(entry.terms, entry.verification, strict=True):
        name = hashing.to_hex(term.xorb)
        xorb = stored.get(name)
        if xorb is None or name not in allowed:
            raise BadFile(f"The shard references xorb {name}, which is not available here.")
        if not term.start < term.end <= len(xorb.chunks):
            raise BadFile(f"A term asks for chunks {term.start}..{term.end} of xorb {name}.")
        chunks = xorb.chunks[term.start : term.end]
        if sum(c.size for c in chunks) != term.unpacked:
            raise BadFile(f"A term's unpacked size does not match xorb {name}.")
        if hashing.verification_hash(c.hash for c in chunks) != check:
            raise BadFile(f"A term's verification hash does not match xorb {name}.")
        for c in chunks:
            tree.add(c.hash, c.size)
        total += term.unpacked
        if total > max_bytes:
            raise PayloadTooLarge(f"A file in the shard is larger than {max_bytes} bytes.")
    if hashing.file_hash_of(tree) != entry.hash:
        raise BadFile(f"The file hash {hashing.to_hex(entry.hash)} does not match its chunks.")
    return total


def read_terms(
    blobs: BlobStore,
    stored: dict[str, StoredXorb],
    terms: Sequence[shards.Term],
    start: int = 0,
    end: int | None = None,
) -> Iterator[bytes]:
    """The file's bytes ``start..end`` (end exclusive), a chunk at a time."""
    position = 0
    for term in terms:
        if end is not None and position >= end:
            return
        if position + term.unpacked <= start:
            position += term.unpacked
            continue
        xorb = stored[hashing.to_hex(term.xorb)]
        first = term.start
        while first < term.end and position + xorb.chunks[first].size <= start:
            position += xorb.chunks[first].size
            first += 1
        a, b = xorb.byte_range(first, term.end)
        # A ranged read, not open-and-seek: an object store's reader cannot seek.
        blocks = blobs.read_range(xorb.blob, a, b - 1, READ_BLOCK)
        try:
            reader = Reader(iter(blocks))
            for _ in range(first, term.end):
                got = xorbs.read_chunk(reader)
                if got is None:
                    raise OSError(f"xorb {xorb.hash} is shorter than its index")
                data = got[0]
                lo = max(start - position, 0)
                hi = len(data) if end is None else min(len(data), end - position)
                position += len(data)
                if hi > lo:
                    yield data[lo:hi] if (lo, hi) != (0, len(data)) else data
                if end is not None and position >= end:
                    return
        finally:
            close = getattr(blocks, "close", None)
            if close is not None:
                close()  # a generator's finally (the object store's response) runs now


#: Bytes of a xorb read at a time (kept small: parallel reads do not pile up).
READ_BLOCK = 1024 * 1024


def file_sha256(
    blobs: BlobStore, stored: dict[str, StoredXorb], terms: Sequence[shards.Term]
) -> str:
    h = hashlib.sha256()
    for data in read_terms(blobs, stored, terms):
        h.update(data)
    return h.hexdigest()


#: Distinct xorbs ahead of a chunk, in the file's order, that a dedup query for that
#: chunk answers with (about this many times 64 MiB of the file).
DEDUP_WINDOW = 32


def dedup_rows(entry: shards.FileEntry, stored: dict[str, StoredXorb]) -> list[dict[str, str]]:
    """Index a file for the global dedup query: its first chunk and every eligible
    chunk lead to the xorb holding it and the next xorbs the file uses. A client
    queries only eligible chunks (about one per 64 MiB), so without the window the
    xorbs between them would never be found."""
    order: list[str] = []
    for t in entry.terms:
        name = hashing.to_hex(t.xorb)
        if not order or order[-1] != name:
            order.append(name)
    rows: dict[tuple[str, str], None] = {}
    at = 0
    for i, t in enumerate(entry.terms):
        name = hashing.to_hex(t.xorb)
        while order[at] != name:
            at += 1
        ahead = list(dict.fromkeys(order[at : at + 4 * DEDUP_WINDOW]))[:DEDUP_WINDOW]
        chunks = stored[name].chunks[t.start : t.end]
        for j, c in enumerate(chunks):
            if (i == 0 and j == 0) or hashing.dedup_eligible(c.hash):
                for x in ahead:
                    rows[(hashing.to_hex(c.hash), x)] = None
    return [{"chunk": c, "xorb": x} for c, x in rows]


def register_file(
    session: Session,
    entry: shards.FileEntry,
    sha256: str,
    size: int,
    repo_id: int,
    stored: dict[str, StoredXorb],
) -> bool:
    name = hashing.to_hex(entry.hash)
    # lfs_objects first: garbage collection locks it before the Xet tables, so either
    # it waits for this transaction or this one waits for it, and then finds below
    # any xorb it removed (PostgreSQL: the rows are also held until the commit).
    insert_ignore(session, LfsObject, [{"oid": sha256, "size": size}])
    used = sorted({hashing.to_hex(t.xorb) for t in entry.terms})
    present = set(
        session.scalars(
            select(XetXorb.hash).where(XetXorb.hash.in_(used)).with_for_update(read=True)
        )
    )
    if present != set(used):
        raise BadFile("A xorb this file uses was collected meanwhile; upload the file again.")
    known = session.get(XetFile, name) is not None
    insert_ignore(
        session,
        XetFile,
        [{"hash": name, "sha256": sha256, "size": size, "terms": pack_terms(entry.terms)}],
    )
    insert_ignore(session, RepoLfsObject, [{"repo_id": repo_id, "oid": sha256}])
    insert_ignore(session, XetXorbRepo, [{"xorb": x, "repo_id": repo_id} for x in used])
    if not known:
        insert_ignore(session, XetDedup, dedup_rows(entry, stored))
    return not known


def known_files(session: Session, hexes: Sequence[str]) -> dict[str, str]:
    """sha256 of the files among ``hexes`` already registered."""
    out: dict[str, str] = {}
    wanted = sorted(set(hexes))
    for i in range(0, len(wanted), 500):
        rows = session.execute(
            select(XetFile.hash, XetFile.sha256).where(XetFile.hash.in_(wanted[i : i + 500]))
        )
        out.update({h: sha for h, sha in rows})
    return out


def file_by_sha256(session: Session, sha256: str) -> XetFile | None:
    return session.scalars(select(XetFile).where(XetFile.sha256 == sha256).limit(1)).first()
