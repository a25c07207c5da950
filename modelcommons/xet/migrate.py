"""Files that arrived by Git LFS or inline, moved into the chunk store.

Each such file (an LFS object whose bytes are one blob) is chunked with the
specification's chunker, deduplicated against everything stored, and uploaded to
the hub's own CAS by ``hf_xet``, the reference implementation of the client side
(Hugging Face's Rust library, the one stock clients use; it is what makes the
chunks a hub-side conversion makes identical to a client's). The CAS verifies the
upload like any other: the file is reconstructed and its sha256 computed before it
is registered. Only once it is registered under the same sha256 does the blob go,
so the file is stored once, at chunk level, and every path reads it as before.

Resumable: a file already registered is skipped; a conversion cut short leaves the
blob in place (and perhaps xorbs that the next run reuses).
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

from sqlalchemy import select

from ..db.database import Database
from ..db.schema import LfsObject, RepoLfsObject, XetFile
from ..storage.blobs import BlobStore
from . import store
from .tokens import XetSigner

#: How long the token of one conversion is valid (a large file takes a while).
TOKEN_SECONDS = 24 * 3600
#: Bytes read from the store and handed to the chunker at a time.
READ_BLOCK = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Candidate:
    sha256: str
    size: int
    repo_id: int


def candidates(db: Database, min_bytes: int, batch: int = 500) -> Iterator[list[Candidate]]:
    """LFS objects of at least ``min_bytes`` linked to a repository and not yet held
    as Xet files, a batch at a time (keyset pagination on the sha256)."""
    last = ""
    while True:
        with db.read() as session:
            rows = session.execute(
                select(LfsObject.oid, LfsObject.size)
                .where(LfsObject.oid > last, LfsObject.size >= min_bytes)
                .order_by(LfsObject.oid)
                .limit(batch)
            ).all()
            if not rows:
                return
            last = rows[-1][0]
            held = set(
                session.scalars(
                    select(XetFile.sha256).where(XetFile.sha256.in_([r[0] for r in rows]))
                )
            )
            out = []
            for oid, size in rows:
                if oid in held:
                    continue
                repo_id = session.scalar(
                    select(RepoLfsObject.repo_id).where(RepoLfsObject.oid == oid).limit(1)
                )
                if repo_id is not None:
                    out.append(Candidate(oid, size, repo_id))
        yield out


def convert(
    db: Database, blobs: BlobStore, signer: XetSigner, cas_url: str, item: Candidate
) -> bool:
    """Move one file into the chunk store; False when its blob is not there (lost, or
    converted by another run)."""
    import hf_xet  # imported here: only conversions need the client library

    inner: BlobStore = getattr(blobs, "inner", blobs)
    try:
        source = inner.open(item.sha256)
    except FileNotFoundError:
        return False
    token, exp = signer.issue_system(item.repo_id, TOKEN_SECONDS)
    session = hf_xet.XetSession()
    # Streamed from the store (a local file or one GET from an object store): nothing
    # needs a local copy, and only a block is held here at a time.
    with (
        source,
        session.new_upload_commit(
            endpoint=cas_url, token=token, token_expiry_unix_secs=exp
        ) as commit,
    ):
        stream = commit.start_upload_stream(name=item.sha256, sha256=item.sha256)
        while block := source.read(READ_BLOCK):
            stream.write(block)
        stream.finish()
    with db.read() as s:
        registered = store.file_by_sha256(s, item.sha256)
    if registered is None or registered.size != item.size:
        raise RuntimeError(f"{item.sha256} was uploaded but not registered by the CAS")
    # The bytes are now reachable as chunks: the whole-file copy goes.
    inner.remove_if_older(item.sha256, time.time() + 60)
    return True


def candidate(db: Database, sha256: str) -> Candidate | None:
    """One LFS object, if it is linked to a repository and not held as Xet yet."""
    with db.read() as session:
        if store.file_by_sha256(session, sha256) is not None:
            return None
        size = session.scalar(select(LfsObject.size).where(LfsObject.oid == sha256))
        repo_id = session.scalar(
            select(RepoLfsObject.repo_id).where(RepoLfsObject.oid == sha256).limit(1)
        )
    if size is None or repo_id is None:
        return None
    return Candidate(sha256, size, repo_id)


def local_cas_url(host: str, port: int, prefix: str, configured: str | None) -> str:
    """Where this process reaches its own CAS: the configured one, else itself."""
    if configured:
        return configured
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 (a listening address, not a bind)
        host = "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}{prefix}/cas"
