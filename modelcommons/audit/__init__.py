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
:mod:`.audit_signing`): the first entry, then at least every ``every`` entries
and every ``seconds``, and at every export, are signed with a key kept outside
the database, which such a rewrite cannot reproduce.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from ..clock import utcnow
from ..db.schema import AuditCheckpoint, AuditEvent
from . import signing
from .signing import GENESIS, Checkpoint

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

_AT = "%Y-%m-%dT%H:%M:%S.%fZ"


@dataclasses.dataclass(frozen=True)
class Event:
    """Base of every event; subclasses name their ``kind`` and add fields."""

    kind: ClassVar[str] = "event"
    actor: str | None

    def data(self) -> dict[str, Any]:
        fields = dataclasses.asdict(self)
        fields.pop("actor")
        for key in ("repo", "namespace"):
            fields.pop(key, None)
        return fields

    @property
    def repo_pk(self) -> int | None:
        return getattr(self, "repo", None)

    @property
    def scope(self) -> str | None:
        return getattr(self, "namespace", None)


@dataclasses.dataclass(frozen=True)
class RepoEvent(Event):
    """An event about one repository: its key, its namespace and its id at the time."""

    repo: int = 0
    namespace: str = ""
    repo_id: str = ""

    @classmethod
    def of(cls, repo: Any, actor: str | None, **fields: Any) -> Self:
        """The event about ``repo`` (a :class:`~modelcommons.schema.Repo`)."""
        return cls(actor, repo=repo.id, namespace=repo.namespace, repo_id=repo.repo_id, **fields)


@dataclasses.dataclass(frozen=True)
class SignedIn(Event):
    kind: ClassVar[str] = "auth.sign_in"
    namespace: str = ""  # who signed in
    method: str = "password"


@dataclasses.dataclass(frozen=True)
class SignInThrottled(Event):
    """Failed sign-ins filled the limit for an account (``by`` "account"; ``namespace``
    is the user) or a client address (``by`` "address"): attempts are refused until
    ``until``. Recorded once per lock, when it begins, not for each refused attempt."""

    kind: ClassVar[str] = "auth.sign_in_throttled"
    namespace: str | None = None
    by: str = ""
    address: str = ""  # of the attempt that filled the limit
    failures: int = 0
    until: str = ""


@dataclasses.dataclass(frozen=True)
class TokenCreated(Event):
    kind: ClassVar[str] = "token.created"
    namespace: str = ""  # the token's owner
    name: str = ""
    role: str = ""
    #: Fine-grained tokens: what they reach and may do there.
    scopes: tuple[str, ...] = ()
    permissions: tuple[str, ...] = ()
    expires: str | None = None  # ISO 8601 UTC, or None for never

    def data(self) -> dict[str, Any]:
        # Left out when unset, so a plain token's entry reads as it always has.
        return {k: v for k, v in super().data().items() if v not in ((), [], None)}


@dataclasses.dataclass(frozen=True)
class TokenRevoked(Event):
    kind: ClassVar[str] = "token.revoked"
    namespace: str = ""
    name: str = ""


@dataclasses.dataclass(frozen=True)
class RoleSet(Event):
    """A user's role in an organisation was given or changed."""

    kind: ClassVar[str] = "org.role_set"
    namespace: str = ""  # the organisation
    user: str = ""
    role: str = ""


@dataclasses.dataclass(frozen=True)
class RepoCreated(RepoEvent):
    kind: ClassVar[str] = "repo.created"
    private: bool = False


@dataclasses.dataclass(frozen=True)
class RepoMoved(Event):
    kind: ClassVar[str] = "repo.moved"
    repo: int = 0
    namespace: str = ""
    from_id: str = ""
    to_id: str = ""


@dataclasses.dataclass(frozen=True)
class RepoDeleted(RepoEvent):
    kind: ClassVar[str] = "repo.deleted"


@dataclasses.dataclass(frozen=True)
class VisibilityChanged(RepoEvent):
    kind: ClassVar[str] = "repo.visibility_changed"
    private: bool = False


@dataclasses.dataclass(frozen=True)
class GatingChanged(RepoEvent):
    """The gating setting of a repository changed (mode "off", "auto", "manual")."""

    kind: ClassVar[str] = "gating.changed"
    mode: str = "off"
    access_seconds: int | None = None


@dataclasses.dataclass(frozen=True)
class AccessRequested(RepoEvent):
    kind: ClassVar[str] = "gating.requested"
    user: str = ""
    licence_sha256: str = ""


@dataclasses.dataclass(frozen=True)
class AccessDecided(RepoEvent):
    """A reviewer accepted, rejected or cancelled (status "pending") a request."""

    kind: ClassVar[str] = "gating.decided"
    user: str = ""
    status: str = ""
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class AccessGranted(RepoEvent):
    kind: ClassVar[str] = "gating.granted"
    user: str = ""


@dataclasses.dataclass(frozen=True)
class LicenceAccepted(RepoEvent):
    """An acceptance record was written: the user now holds access under this licence."""

    kind: ClassVar[str] = "gating.licence_accepted"
    user: str = ""
    revision: str = ""
    licence_sha256: str = ""
    record: int = 0


@dataclasses.dataclass(frozen=True)
class GatedDownload(RepoEvent):
    kind: ClassVar[str] = "gating.download"
    path: str = ""
    revision: str = ""


@dataclasses.dataclass(frozen=True)
class LicencePolicySet(Event):
    kind: ClassVar[str] = "licence.policy_set"
    namespace: str = ""
    policy: str = ""


@dataclasses.dataclass(frozen=True)
class LicenceViolationsCommitted(RepoEvent):
    """A card commit with licence violations, let through because the policy warns."""

    kind: ClassVar[str] = "licence.violations_committed"
    commit: str = ""
    clauses: tuple[str, ...] = ()


def gated_download(
    repo: Any, principal_name: str | None, path: str, revision: str
) -> GatedDownload:
    """The event for a gated or staged file fetched (or shown) outside the namespace."""
    return GatedDownload.of(repo, principal_name, path=path, revision=revision)


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


class AuditLog:
    def __init__(
        self, anchors: Path, key_file: Path, *, every: int = 32, seconds: int = 600
    ) -> None:
        self.anchors = anchors
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
            with open(self.anchors, "a", encoding="ascii") as f:
                f.write(f"{seq} {digest}\n")

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
        if not self.anchors.exists():
            return []
        out = []
        for line in self.anchors.read_text(encoding="ascii").splitlines():
            seq, _, digest = line.partition(" ")
            if seq.isdigit() and len(digest) == 64:
                out.append((int(seq), digest))
        return out[-1000:]


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


@dataclasses.dataclass(frozen=True)
class ReleaseDecided(RepoEvent):
    """A staged-release decision: plan set, replaced, restarted or ended, stage
    promoted, paused, resumed, rolled back or approved. ``actor`` None is the scheduler."""

    kind: ClassVar[str] = "release.decided"
    action: str = ""
    stage: int = -1
    stage_name: str = ""
    rationale: str = ""


@dataclasses.dataclass(frozen=True)
class PasswordSet(Event):
    """A user's password was set or changed: by the user on the account page
    (``actor`` the user) or with ``commons user set-password`` (``actor`` None).
    ``sessions_ended``: the browser sessions signed out by it."""

    kind: ClassVar[str] = "auth.password_set"
    namespace: str = ""  # the user
    method: str = ""  # "account page" | "cli"
    first: bool = False  # the account had no password before
    sessions_ended: int = 0


@dataclasses.dataclass(frozen=True)
class EmailChanged(Event):
    """A user changed their email address on the account page (the address itself
    is not logged: the log outlives it)."""

    kind: ClassVar[str] = "account.email_changed"
    namespace: str = ""
    cleared: bool = False
