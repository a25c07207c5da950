"""A tamper-evident record of security-relevant events.

Each event is a typed dataclass. Events are appended, in the transaction of
the change they describe, to a hash chain: entry ``n`` stores the sha256 of
its own canonical JSON, which includes entry ``n-1``'s hash and its sequence
number. Editing, inserting or deleting any entry breaks the chain or the
numbering, which :func:`verify` reports. Deleting entries at the tail leaves
a valid shorter chain, so each append also records ``(seq, hash)`` in an
anchors file outside the database; :func:`verify` checks the chain against it.

Whoever can write both the database and the anchors file could still rewrite
all of it consistently, so appends also make signed checkpoints (see
:mod:`.signing`): the first entry, then at least every ``every`` entries
and every ``seconds``, and at every export, are signed with a key kept outside
the database, which such a rewrite cannot reproduce.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import AuditCheckpoint, AuditEvent
from . import signing
from .events import Event
from .signing import GENESIS, Checkpoint

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

_AT = "%Y-%m-%dT%H:%M:%S.%fZ"


def _body(
    seq: int,
    created: dt.datetime,
    kind: str,
    actor: str | None,
    repo: int | None,
    namespace: str | None,
    data: dict[str, Any],
    prev: str,
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": created.strftime(_AT),
        "kind": kind,
        "actor": actor,
        "repo": repo,
        "namespace": namespace,
        "data": data,
        "prev": prev,
    }


def entry_hash(row: AuditEvent) -> str:
    body = _body(
        row.seq,
        row.created_at,
        row.kind,
        row.actor,
        row.repo_id,
        row.namespace,
        json.loads(row.data),
        row.prev_hash,
    )
    return signing.canonical_hash(body)


class Anchors(Protocol):
    """Where (seq, hash) anchors are kept, outside the database: a file
    (:class:`FileAnchors`), or the object store when replicas share no disk."""

    def append(self, seq: int, digest: str) -> None: ...
    def recent(self, count: int) -> list[tuple[int, str]]:
        """The newest ``count`` anchors, oldest first."""
        ...


class FileAnchors:
    """Anchors as lines ``<seq> <hash>`` appended to a file."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def append(self, seq: int, digest: str) -> None:
        with open(self.path, "a", encoding="ascii") as f:
            f.write(f"{seq} {digest}\n")

    def recent(self, count: int) -> list[tuple[int, str]]:
        if not self.path.exists():
            return []
        out = []
        for line in self.path.read_text(encoding="ascii").splitlines():
            seq, _, digest = line.partition(" ")
            if seq.isdigit() and len(digest) == 64:
                out.append((int(seq), digest))
        return out[-count:]


class AuditLog:
    def __init__(
        self, anchors: Path | Anchors, key_file: Path, *, every: int = 32, seconds: int = 600
    ) -> None:
        self.anchors: Anchors = FileAnchors(anchors) if isinstance(anchors, Path) else anchors
        #: The Ed25519 signing key for checkpoints (made on first use).
        self.key_file = key_file
        #: A checkpoint is made at least every ``every`` entries and ``seconds``.
        self.every = every
        self.seconds = seconds
        self._key: Ed25519PrivateKey | None = None

    def signing_key(self) -> Ed25519PrivateKey:
        if self._key is None:
            self._key = signing.load_or_create_key(self.key_file)
        return self._key

    def public_key(self) -> Ed25519PublicKey:
        return self.signing_key().public_key()

    def _lock(self, session: Session) -> None:
        if session.get_bind().dialect.name == "postgresql":
            # One appender at a time, so sequence numbers stay contiguous.
            session.execute(text("SELECT pg_advisory_xact_lock(7411)"))

    def record(self, session: Session, event: Event) -> AuditEvent:
        """Append ``event`` in the caller's transaction (with a checkpoint when due)."""
        self._lock(session)
        last = self._newest(session)
        row = AuditEvent(
            seq=(last.seq + 1) if last else 1,
            created_at=utcnow(),
            kind=event.kind,
            actor=event.actor,
            repo_id=event.repo_pk,
            namespace=event.scope,
            data=json.dumps(event.data(), sort_keys=True, default=str),
            prev_hash=last.hash if last else GENESIS,
            hash="",
        )
        row.hash = entry_hash(row)
        session.add(row)
        session.flush()
        session.info.setdefault("audit_anchors", []).append((row.seq, row.hash))
        signed = self._newest_checkpoint(session)
        now = utcnow()
        if (
            signed is None
            or row.seq - signed.seq >= self.every
            or now - dt.datetime.strptime(signed.signed_at, _AT)
            >= dt.timedelta(seconds=self.seconds)
        ):
            self._sign(session, row.seq, row.hash, now)
        return row

    def checkpoint(self, session: Session) -> Checkpoint | None:
        """Sign the newest entry now, unless the newest checkpoint already names it
        (None when the log is empty). Exports call it, so they end signed."""
        self._lock(session)
        head = self._newest(session)
        if head is None:
            return None
        signed = self._newest_checkpoint(session)
        if signed is not None and signed.seq == head.seq:
            return _checkpoint(signed)
        return self._sign(session, head.seq, head.hash, utcnow())

    def _sign(self, session: Session, seq: int, digest: str, now: dt.datetime) -> Checkpoint:
        cp = signing.sign(self.signing_key(), seq, digest, now.strftime(_AT))
        session.add(AuditCheckpoint(seq=seq, hash=digest, signed_at=cp.at, signature=cp.signature))
        session.flush()
        return cp

    def _newest(self, session: Session) -> AuditEvent | None:
        return session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).first()

    def _newest_checkpoint(self, session: Session) -> AuditCheckpoint | None:
        stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.seq.desc()).limit(1)
        return session.scalars(stmt).first()

    def checkpoints(self, session: Session) -> list[Checkpoint]:
        stmt = select(AuditCheckpoint).order_by(AuditCheckpoint.seq)
        return [_checkpoint(row) for row in session.scalars(stmt)]

    def write_anchors(self, session: Session) -> None:
        """After commit: remember the newest (seq, hash) outside the database."""
        pending = session.info.pop("audit_anchors", [])
        if pending:
            seq, digest = pending[-1]
            self.anchors.append(seq, digest)

    def entries(
        self, session: Session, *, repo: int | None = None, namespace: str | None = None
    ) -> Iterator[AuditEvent]:
        stmt = select(AuditEvent).order_by(AuditEvent.seq)
        if repo is not None:
            stmt = stmt.where(AuditEvent.repo_id == repo)
        if namespace is not None:
            stmt = stmt.where(AuditEvent.namespace == namespace)
        yield from session.scalars(stmt.execution_options(yield_per=1000))

    def verify(self, session: Session, public_key: Ed25519PublicKey | None = None) -> list[str]:
        """Every problem found, in order; an empty list means the log is intact.

        Checkpoints are checked with ``public_key`` (one noted down earlier, so that
        a replaced key file shows), or else with the key file's."""
        problems: list[str] = []
        prev, expected = GENESIS, 1
        hashes: dict[int, str] = {}
        for row in self.entries(session):
            if row.seq != expected:
                problems.append(
                    f"entry {row.seq}: expected sequence number {expected} "
                    "(an entry was deleted or inserted)"
                )
            if row.prev_hash != prev:
                problems.append(
                    f"entry {row.seq}: does not follow the entry before it (the chain is broken)"
                )
            if entry_hash(row) != row.hash:
                problems.append(
                    f"entry {row.seq}: its content does not match its hash (it was edited)"
                )
            hashes[row.seq] = row.hash
            prev, expected = row.hash, row.seq + 1
        for seq, digest in self._anchors():
            if seq not in hashes:
                problems.append(
                    f"entry {seq} was recorded but is missing (the log was truncated or rewritten)"
                )
            elif hashes[seq] != digest:
                problems.append(f"entry {seq}: differs from the anchored hash")
        if public_key is None and self.key_file.exists():
            public_key = self.public_key()
        if public_key is None:
            if hashes:
                problems.append(f"no signing key at {self.key_file}: pass the public key")
            return problems
        last_seq = max(hashes, default=0)
        problems += signing.check_checkpoints(
            public_key, self.checkpoints(session), hashes, last_seq=last_seq, every=self.every
        )
        return problems

    def _anchors(self) -> list[tuple[int, str]]:
        return self.anchors.recent(1000)


def _checkpoint(row: AuditCheckpoint) -> Checkpoint:
    return Checkpoint(row.seq, row.hash, row.signed_at, row.signature)


def as_json(row: AuditEvent) -> dict[str, Any]:
    return {
        **_body(
            row.seq,
            row.created_at,
            row.kind,
            row.actor,
            row.repo_id,
            row.namespace,
            json.loads(row.data),
            row.prev_hash,
        ),
        "hash": row.hash,
    }
