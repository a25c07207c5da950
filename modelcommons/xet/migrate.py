"""Files that arrived by Git LFS or inline, moved into the chunk store.

Each such file (an LFS object whose bytes are one blob) is chunked with the
specification's chunker, deduplicated against everything stored, and uploaded to
the hub's own CAS by ``hf_xet``, the reference implementation of the client side
(Hugging Face's Rust library, the one stock clients use; it is what makes the
chunks a hub-side conversion makes identical to a client's), run in a process of
its own (:mod:`.chunker`) fed the file's bytes through a pipe. The CAS verifies the
upload like any other: the file is reconstructed and its sha256 computed before it
is registered. Only once it is registered under the same sha256 does the blob go,
so the file is stored once, at chunk level, and every path reads it as before.

Resumable: a file already registered is skipped (and its whole-file blob removed, if
a conversion stopped between the registration and the removal); a conversion cut
short leaves the blob in place, no file registered, and perhaps xorbs that the next
run reuses or ``commons gc`` collects.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import BinaryIO

from sqlalchemy import select

from ..db.database import Database
from ..db.schema import LfsObject, RepoLfsObject, XetFile
from ..storage.blobs import BlobStore
from . import store
from .tokens import XetSigner

log = logging.getLogger("modelcommons.xet")

#: How long the token of one conversion is valid (a large file takes a while).
TOKEN_SECONDS = 24 * 3600
#: Bytes read from the store and handed to the chunker process at a time.
READ_BLOCK = 4 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Candidate:
    sha256: str
    size: int
    repo_id: int
    #: Already held as chunks: only its whole-file blob, if still there, is to go.
    held: bool = False


def candidates(db: Database, min_bytes: int, batch: int = 500) -> Iterator[list[Candidate]]:
    """LFS objects of at least ``min_bytes`` linked to a repository, a batch at a time
    (keyset pagination on the sha256); those already held as Xet files come with
    ``held`` set."""
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
                    out.append(Candidate(oid, size, 0, held=True))
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
    inner: BlobStore = getattr(blobs, "inner", blobs)
    try:
        source = inner.open(item.sha256)
    except FileNotFoundError:
        return False
    token, exp = signer.issue_system(item.repo_id, TOKEN_SECONDS)
    started = time.monotonic()
    with source:
        peak_kb = _chunk_in_child(source, cas_url, token, exp, item)
    with db.read() as s:
        registered = store.file_by_sha256(s, item.sha256)
    if registered is None or registered.size != item.size:
        raise RuntimeError(f"{item.sha256} was uploaded but not registered by the CAS")
    # The bytes are now reachable as chunks: the whole-file copy goes.
    inner.remove_if_older(item.sha256, time.time() + 60)
    log.info(
        "chunked %s (%d bytes) in %.1f s; chunker peak RSS %d KiB",
        item.sha256,
        item.size,
        time.monotonic() - started,
        peak_kb,
    )
    return True


def drop_whole_copy(blobs: BlobStore, sha256: str) -> bool:
    """Remove the whole-file blob of a file already held as chunks (left by a
    conversion stopped between the registration and the removal)."""
    inner: BlobStore = getattr(blobs, "inner", blobs)
    if not inner.exists(sha256):
        return False
    inner.remove_if_older(sha256, time.time() + 60)
    return True


def _child_env(home: str) -> dict[str, str]:
    """The chunker's environment: no hub setting, secret or client token of this
    process, and a client cache of its own (removed after)."""
    keep = ("PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    proxies = ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy")
    env = {k: v for k, v in os.environ.items() if k in keep or k in proxies}
    env.update(HF_HOME=home, HF_XET_CACHE=os.path.join(home, "xet"), HF_HUB_DISABLE_TELEMETRY="1")
    return env


def _chunk_in_child(source: BinaryIO, cas_url: str, token: str, exp: int, item: Candidate) -> int:
    """Feed the file to ``python -m modelcommons.xet.chunker`` (see there why a
    process); its peak RSS in KiB."""
    with tempfile.TemporaryDirectory(prefix="commons-xet-chunk-") as home:
        errors_path = os.path.join(home, "stderr")
        with open(errors_path, "wb") as errors:
            proc = subprocess.Popen(
                [sys.executable, "-m", "modelcommons.xet.chunker"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=_child_env(home),
            )
        assert proc.stdin is not None and proc.stdout is not None
        header = {"endpoint": cas_url, "token": token, "exp": exp}
        header.update(sha256=item.sha256, size=item.size)
        try:
            try:
                proc.stdin.write(json.dumps(header).encode() + b"\n")
                sent = 0
                while block := source.read(READ_BLOCK):
                    proc.stdin.write(block)
                    sent += len(block)
                proc.stdin.flush()
                if sent != item.size:
                    proc.stdin.close()  # a blob shorter than its record: the child stops
            except BrokenPipeError:
                pass  # the child ended early: its exit status and message say why
            # Our end stays open until the child has answered: it stops, committing
            # nothing more, if it sees it close before (this process died).
            out = proc.stdout.readline()
            with contextlib.suppress(BrokenPipeError):
                proc.stdin.close()
            code = proc.wait(timeout=TOKEN_SECONDS)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        finally:
            proc.stdout.close()
        if code != 0:
            with open(errors_path, "rb") as f:
                tail = f.read()[-2000:].decode(errors="replace")
            raise RuntimeError(f"chunking {item.sha256} failed (exit {code}): {tail}")
    try:
        return int(json.loads(out)["peak_rss_kb"])
    except (ValueError, KeyError, TypeError):
        return 0


def held(db: Database, sha256: str) -> bool:
    """Whether a file with this sha256 is registered in the chunk store."""
    with db.read() as session:
        return store.file_by_sha256(session, sha256) is not None


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
