"""The hub's tables, as SQLAlchemy 2 declarative models.

Git objects are content-addressed and shared by every repository; what makes a
commit part of a repository is its row in ``commits``. File bytes never live
here: the blob store holds them, keyed by sha256.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from ..clock import utcnow


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A user or an organisation: both own repositories under their name."""

    __tablename__ = "accounts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(96), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # "user" | "org"
    fullname: Mapped[str] = mapped_column(String(200), default="")
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(300), nullable=True)
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    #: New repositories in this namespace are private unless their creator asks for
    #: public ones (migration 0027; the Hugging Face Hub's Enterprise organisations).
    #: A server default only: inserts leave it out, so code that writes accounts
    #: still runs against schemas from before 0027 (the migration tests do).
    private_by_default: Mapped[bool] = mapped_column(Boolean, server_default=false())


#: Names are unique whatever their letter case (migration 0011): ``ALICE`` cannot sign
#: up beside ``alice``. Names are ASCII, where SQL's lower() agrees on every backend.
Index("uq_accounts_name_lower", func.lower(Account.name), unique=True)


class Membership(Base):
    __tablename__ = "memberships"
    org_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(16))  # "read" | "write" | "admin"


class Token(Base):
    __tablename__ = "tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    #: sha256 of the token; tokens carry 256 bits of entropy so no slow hash is needed.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[str] = mapped_column(String(16))  # "read" | "write" | "fineGrained"
    #: For fine-grained tokens: JSON {"entities": [...], "permissions": [...]}.
    scopes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)
    #: After this time (the hub's clock) the token is refused like a revoked one.
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


class Repo(Base):
    __tablename__ = "repos"
    __table_args__ = (UniqueConstraint("kind", "namespace", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "model" | "dataset"
    namespace: Mapped[str] = mapped_column(String(96))
    name: Mapped[str] = mapped_column(String(96))
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    #: The user who created it: organisation contributors may write to their own.
    created_by: Mapped[int | None] = mapped_column(Integer, nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    downloads: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    #: Card metadata (README.md front matter) of the default branch, as JSON text.
    card_data: Mapped[str] = mapped_column(Text, default="{}")
    #: Space-separated tags derived from the card, for filtering.
    tags: Mapped[str] = mapped_column(Text, default="")

    @property
    def repo_id(self) -> str:
        return f"{self.namespace}/{self.name}"


class Ref(Base):
    __tablename__ = "refs"
    __table_args__ = (UniqueConstraint("repo_id", "kind", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))  # "branch" | "tag"
    name: Mapped[str] = mapped_column(String(200))
    target: Mapped[str] = mapped_column(String(40))


class Commit(Base):
    __tablename__ = "commits"
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    tree_oid: Mapped[str] = mapped_column(String(40))
    #: Parent commit ids, space separated, first parent first.
    parents: Mapped[str] = mapped_column(String(420), default="")
    author: Mapped[str] = mapped_column(String(96))
    title: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class GitObject(Base):
    """Trees and commits, exactly as git encodes them (without the header)."""

    __tablename__ = "git_objects"
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    kind: Mapped[str] = mapped_column(String(8))
    data: Mapped[bytes] = mapped_column(LargeBinary)


class FileBlob(Base):
    """What a git blob id in a tree stands for: a stored file or an LFS pointer."""

    __tablename__ = "file_blobs"
    oid: Mapped[str] = mapped_column(String(40), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    lfs: Mapped[bool] = mapped_column(Boolean)


class LfsObject(Base):
    __tablename__ = "lfs_objects"
    oid: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class RepoLfsObject(Base):
    """LFS objects a repository may reference: uploaded to it, or committed in it.

    Scoping by repository means nobody can link someone else's private object by
    guessing its hash, and the batch API never reveals what other repos hold.
    """

    __tablename__ = "repo_lfs_objects"
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    oid: Mapped[str] = mapped_column(String(64), primary_key=True)


class WebSession(Base):
    """A signed-in browser. The cookie holds a random id; only its sha256 is stored."""

    __tablename__ = "web_sessions"
    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime)


class Like(Base):
    __tablename__ = "likes"
    user_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class SearchDocument(Base):
    """What the search index holds for one repository (see ``search.py``).

    SQLite indexes these columns in the FTS5 table ``search_fts``; PostgreSQL adds a
    generated ``document`` tsvector column (created by migration 0002, not mapped
    here) with a GIN index, and a trigram index on ``name``.
    """

    __tablename__ = "search_documents"
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    #: "namespace/name", lower-cased.
    name: Mapped[str] = mapped_column(String(200))
    tags: Mapped[str] = mapped_column(Text, default="")
    #: Card text: YAML values and the README body, capped.
    body: Mapped[str] = mapped_column(Text, default="")
    #: Opaque filter tokens (facet values, tags, private flag).
    meta: Mapped[str] = mapped_column(Text, default="")
    #: "facet\tvalue" lines, for facet counts.
    facets: Mapped[str] = mapped_column(Text, default="")


class AuditEvent(Base):
    """One entry of the hash-chained audit log (see audit/chain.py). Never updated."""

    __tablename__ = "audit_events"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str | None] = mapped_column(String(96), nullable=True)
    #: No foreign key: entries outlive the repositories they describe.
    repo_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    namespace: Mapped[str | None] = mapped_column(String(96), nullable=True, index=True)
    data: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditCheckpoint(Base):
    """A signature over one audit entry's sequence number and hash (audit/signing.py)."""

    __tablename__ = "audit_checkpoints"
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(64))
    #: When it was signed, exactly as signed: ``2026-01-31T12:00:00.000000Z``.
    signed_at: Mapped[str] = mapped_column(String(32))
    #: Base64 of the Ed25519 signature.
    signature: Mapped[str] = mapped_column(String(128))


class HubIdentity(Base):
    """A fingerprint of something every replica of the hub must share (the URL
    signing secret, the audit signing key): a replica with another refuses to start
    (``scaleout.py``). Never the secret itself."""

    __tablename__ = "hub_identity"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(128))
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LineageEdge(Base):
    """A parent named by a card (``base_model`` or ``datasets``), pinned when committed.

    ``parent_id`` is null for parents that are not on this hub (kept as written in
    ``parent_ref``); ``parent_commit`` is the parent's main head at the child's commit.
    """

    __tablename__ = "lineage_edges"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    child_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    child_commit: Mapped[str] = mapped_column(String(40))
    parent_kind: Mapped[str] = mapped_column(String(16))  # "model" | "dataset"
    parent_ref: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("repos.id", ondelete="SET NULL"), nullable=True, index=True
    )
    parent_commit: Mapped[str | None] = mapped_column(String(40), nullable=True)
    #: finetune | adapter | quantized | merge | dataset
    relation: Mapped[str] = mapped_column(String(16))


class LicenceCheck(Base):
    """The licence check of one commit that changed the card (rejected ones are not kept)."""

    __tablename__ = "licence_checks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    commit_oid: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(8))  # "pass" | "warn"
    policy: Mapped[str] = mapped_column(String(8))  # "warn" | "reject"
    #: JSON list of findings (see lineage.py).
    findings: Mapped[str] = mapped_column(Text, default="[]")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class LicencePolicy(Base):
    """A namespace's override of the hub's ``licence_policy``."""

    __tablename__ = "licence_policies"
    namespace: Mapped[str] = mapped_column(String(96), primary_key=True)
    policy: Mapped[str] = mapped_column(String(8))  # "warn" | "reject"


Index("ix_commits_repo_created", Commit.repo_id, Commit.created_at)
Index("ix_repos_updated", Repo.updated_at)
Index("ix_repos_downloads", Repo.downloads)
Index("ix_repos_likes", Repo.likes)
Index("ix_repos_created", Repo.created_at)
Index("ix_tokens_user", Token.user_id)


class GatingSetting(Base):
    """A repository's gating setting. ``mode`` None follows the card's ``gated`` key."""

    __tablename__ = "gating_settings"
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    #: "off" | "auto" | "manual", or None to follow README.md front matter on main.
    mode: Mapped[str | None] = mapped_column(String(8), nullable=True)
    #: How long an acceptance grants access, in seconds; None means no expiry.
    access_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class AccessRecord(Base):
    """One step of an access request to a gated repository. Never updated.

    A user's current status on a repository is their newest record (highest id).
    ``accepted`` records are the licence acceptances: they keep the commit of main
    at acceptance, the sha256 of the licence text the user agreed to and the form
    answers, and grant access only while that hash matches the repository's
    current licence text and ``expires_at`` has not passed.
    """

    __tablename__ = "access_records"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))  # "pending" | "accepted" | "rejected"
    #: Who wrote this record: the requesting user, or the reviewer.
    actor: Mapped[str] = mapped_column(String(96))
    revision: Mapped[str] = mapped_column(String(40))
    licence_sha256: Mapped[str] = mapped_column(String(64))
    #: Form answers as JSON text ({label: value}).
    fields: Mapped[str] = mapped_column(Text, default="{}")
    reason: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    expires_at: Mapped[dt.datetime | None] = mapped_column(DateTime, nullable=True)


Index("ix_access_records_repo_user", AccessRecord.repo_id, AccessRecord.user_id, AccessRecord.id)


class ReleasePlan(Base):
    """A repository's staged release plan: ordered stages (JSON) and where it stands.

    ``current`` is the index of the last promoted stage (-1: none yet). ``status``:
    "active"; "paused" (the current stage's openings are revoked); "held" (after a
    rollback: no automatic promotion); "ended" (no longer restricts anything).
    """

    __tablename__ = "release_plans"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), unique=True)
    stages: Mapped[str] = mapped_column(Text, default="[]")
    current: Mapped[int] = mapped_column(Integer, default=-1)
    status: Mapped[str] = mapped_column(String(8), default="active")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReleaseDecision(Base):
    """Every decision on a plan (plan, replace, restart, promote, pause, resume, rollback,
    approve, end).
    Never updated; the public timeline of the repository."""

    __tablename__ = "release_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("release_plans.id", ondelete="CASCADE"))
    stage: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(16))
    #: The user who decided; None for the scheduler.
    actor: Mapped[str | None] = mapped_column(String(96), nullable=True)
    rationale: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class ReleaseApproval(Base):
    """One person's approval of one stage of a plan."""

    __tablename__ = "release_approvals"
    __table_args__ = (UniqueConstraint("plan_id", "stage", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    plan_id: Mapped[int] = mapped_column(ForeignKey("release_plans.id", ondelete="CASCADE"))
    stage: Mapped[int] = mapped_column(Integer)
    user_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


Index("ix_release_decisions_plan", ReleaseDecision.plan_id, ReleaseDecision.id)


class LoginAttempt(Base):
    """Failed sign-ins counted for one account name or client address (see
    login_throttle.py): ``failures`` since ``window_start``, the first failure after
    the previous window ended. Rows whose window has ended mean nothing and are purged."""

    __tablename__ = "login_attempts"
    kind: Mapped[str] = mapped_column(String(8), primary_key=True)  # "account" | "address"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    window_start: Mapped[dt.datetime] = mapped_column(DateTime, index=True)


# --- Xet (content-defined chunks in xorbs; see modelcommons.xet) -------------------


class XetXorb(Base):
    """A verified xorb: its chunks' hashes and sizes were computed here from its bytes.

    ``hash`` is the xorb hash in the protocol's string form; the serialised xorb is
    a blob named by its sha256 (``blob``), so the blob store's rule (an object named
    X hashes to X) and ``commons fsck`` hold for xorbs too. ``chunks`` packs, per
    chunk, its hash (32 bytes), its offset in the serialisation and its unpacked
    size (two little-endian u32): all a reconstruction or a check needs, in one row.
    """

    __tablename__ = "xet_xorbs"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    blob: Mapped[str] = mapped_column(String(64), index=True)
    num_chunks: Mapped[int] = mapped_column(Integer)
    #: End of the chunk data (where the footer, if any, starts).
    data_end: Mapped[int] = mapped_column(BigInteger)
    unpacked: Mapped[int] = mapped_column(BigInteger)
    chunks: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class XetXorbRepo(Base):
    """Repositories a xorb was uploaded to or is used by: who may build on it."""

    __tablename__ = "xet_xorb_repos"
    xorb: Mapped[str] = mapped_column(String(64), primary_key=True)
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class XetXorbUploader(Base):
    """Accounts that sent a xorb's bytes themselves (migration 0026): they may build on
    it in any repository they write to, as a client does from its own chunk cache
    after the repository it first uploaded to was deleted."""

    __tablename__ = "xet_xorb_uploaders"
    xorb: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True, index=True
    )


class XetDedup(Base):
    """Chunks a client may ask the global dedup query about (the eligible ones)."""

    __tablename__ = "xet_dedup"
    chunk: Mapped[str] = mapped_column(String(64), primary_key=True)
    xorb: Mapped[str] = mapped_column(String(64), primary_key=True)


class XetFile(Base):
    """A file registered by a shard, after the hub reconstructed it and computed its
    sha256 itself. ``terms`` packs, per term, the xorb hash (32 bytes) and the chunk
    range and unpacked size (three little-endian u32)."""

    __tablename__ = "xet_files"
    hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    terms: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


def xet_term_xorbs(terms: bytes) -> set[str]:
    """The xorbs (in the protocol's string form: each 8-byte group of the hash as a
    little-endian u64 in hex) that a packed ``XetFile.terms`` uses. Each term is the
    xorb hash (32 bytes) and three little-endian u32s."""
    out = set()
    for i in range(0, len(terms), 44):
        h = terms[i : i + 32]
        out.add("".join(h[j : j + 8][::-1].hex() for j in (0, 8, 16, 24)))
    return out


class RepoRedirect(Base):
    """A name a repository had before it was moved (migration 0022): requests for it
    are redirected to the repository's name now, for callers who may see it. A
    repository that takes the name later wins: names are looked up first."""

    __tablename__ = "repo_redirects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    namespace: Mapped[str] = mapped_column(String(96))
    name: Mapped[str] = mapped_column(String(96))
    repo_id: Mapped[int] = mapped_column(ForeignKey("repos.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


Index(
    "uq_repo_redirects_name",
    RepoRedirect.kind,
    func.lower(RepoRedirect.namespace),
    func.lower(RepoRedirect.name),
    unique=True,
)


class Collection(Base):
    """A curated list of repositories and other collections (migration 0023), owned by
    a user or an organisation. Its slug is ``namespace/title-words-<uid>``; only the
    ``uid`` identifies it, so the slug may change with the title."""

    __tablename__ = "collections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    theme: Mapped[str] = mapped_column(String(16), default="default")
    position: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class CollectionItem(Base):
    """A repository or a collection in a collection, at a position, with a note.
    Deleting the repository or collection it names deletes it."""

    __tablename__ = "collection_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(24), unique=True)
    collection_id: Mapped[int] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(16))  # "model" | "dataset" | "collection"
    repo_id: Mapped[int | None] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), nullable=True, index=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("collections.id", ondelete="CASCADE"), nullable=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, default=0)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)


class PurgedLfsObject(Base):
    """An LFS object a repository's admin deleted for good (migration 0024): the link
    (``repo_lfs_objects``) is gone, and so are the bytes unless another repository
    shares them. ``commons fsck`` does not report purged bytes as missing."""

    __tablename__ = "purged_lfs_objects"
    repo_id: Mapped[int] = mapped_column(
        ForeignKey("repos.id", ondelete="CASCADE"), primary_key=True
    )
    oid: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    purged_by: Mapped[str] = mapped_column(String(96))
    purged_at: Mapped[dt.datetime] = mapped_column(DateTime, default=utcnow)
